# The instructor's settings. grader.Dockerfile appends this file to the trusted grader's configuration
# (`attnlab nbgrader-config`) in /etc/jupyter/nbgrader_config.py, so both come from one file at run time.
c = get_config()  # noqa: F821 - nbgrader defines get_config() for this file

# The private course volume, which only the instructor's pod mounts (hub.extraConfig in deploy/values.yaml).
# It lies inside the server's root (/home/jovyan): nbgrader's formgrader refuses a course root outside it.
c.CourseDirectory.root = "/home/jovyan/course"
c.CourseDirectory.course_id = "attnlab-attention"
c.Exchange.root = "/srv/nbgrader/exchange"

# Every pod runs as jovyan, so every submission in the exchange is owned by jovyan, whoever made it: nbgrader's
# owner check would warn about each one and stop none (it only logs). Ownership proves nothing here; see the
# isolation note in deploy/values.yaml.
c.ExchangeCollect.check_owner = False
# A submission whose student id is not plain (HTML in the name of a folder in the exchange) is skipped and
# logged: nbgrader's pages print student ids as they are (attnlab.hub.collect).
c.ExchangeFactory.collect = "attnlab.hub.collect.CourseCollect"
# Checkpoints and the other files editors leave beside a notebook are never collected (attnlab.exchange).
from attnlab.exchange import EDITOR_LEFTOVERS  # noqa: E402

c.CourseDirectory.ignore = EDITOR_LEFTOVERS
