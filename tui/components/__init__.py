"""One file per widget or screen (as harlequin does); messages live in the widget that posts them."""
