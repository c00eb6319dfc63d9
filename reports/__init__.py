"""reports: HTML and PDF reports built from sweep results and rating tables."""
