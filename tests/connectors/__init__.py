"""Every way data comes in, through real clients against local fakes and real files."""
