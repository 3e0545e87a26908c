"""Reports: a run's HTML report, the leaderboard and the comparison of two runs."""
