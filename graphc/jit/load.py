def load_function(path):
    raise NotImplementedError
