{ unused: true }
