# hostile: leave as soon as the grader loads the file.
# position: start
import sys

sys.exit(0)
