"""Services: the rules of tracking (and later the registry) on top of the stores."""
