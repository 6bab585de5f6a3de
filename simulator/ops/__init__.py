"""EWS operations, one module per operation or small family, each a function of (context, request
element) returning the response element."""
