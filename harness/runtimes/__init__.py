"""Running an exported file without torch: prediction, its metadata checks, the runtimes of the matrix, the web page."""
