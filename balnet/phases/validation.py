"""placeholder"""
def evaluate_grid(*a): pass
def markdown_tables(*a): pass
