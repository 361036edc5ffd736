"""Command-line front end (installed as ``igen_gs.cli``; console command ``igen``)."""
