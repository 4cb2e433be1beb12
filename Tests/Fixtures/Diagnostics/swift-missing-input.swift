// The compile names another file, which does not exist.
