"""Deploy steps that read the committed output and make a system match it."""
