"""One module per model format: each checks a package's model files by their content."""
