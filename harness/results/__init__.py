"""Reading results from the store, pure: ranking, leaderboards, intervals, like-for-like
matching, cost, analysis, probes."""
