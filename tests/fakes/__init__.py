"""Local fake servers speaking the providers' real wire formats (127.0.0.1, port 0), reusable by any test."""
