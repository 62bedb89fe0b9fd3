{ a: undefined_variable }
