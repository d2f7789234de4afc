"""rosetta-tiny: a softmax-rosetta backend plugin (see backend.py). Importing the package imports no framework."""
