"""`roundtable dashboard`: a live page for the people watching the team (servers/dashboard/app.py)."""
