"""Small simulated sample TIFFs (see README.md) and the script that makes them."""
