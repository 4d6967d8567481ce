# Students' nbgrader configuration (/etc/jupyter/nbgrader_config.py in the student image).
# The image sets JUPYTER_CONFIG_PATH=/etc/jupyter, so this file wins over one in a student's home.
import os

c = get_config()  # noqa: F821 - nbgrader defines get_config() for this file

# The id the instructor's image uses too (course.yml's course_id): fetch and submit look for it in the exchange.
c.CourseDirectory.course_id = "attnlab-attention"
# The shared ReadWriteMany volume that deploy/values.yaml mounts here in every pod, the instructor's included.
c.Exchange.root = "/srv/nbgrader/exchange"

# nbgrader files a submission under the OS user (nbgrader.utils.get_username), and every pod runs as jovyan:
# without this, every student would submit as "jovyan" and each submission would replace the last.
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]

# Checkpoints and the other files editors leave beside a notebook are never submitted (attnlab.exchange), and the
# submission's log compares what it submits with the release.
from attnlab.exchange import EDITOR_LEFTOVERS  # noqa: E402 - the student build ships it

c.CourseDirectory.ignore = EDITOR_LEFTOVERS
c.ExchangeFactory.submit = "attnlab.exchange.CourseSubmit"
# Fetched feedback goes to a folder named without spaces (feedback/2026-12-07_11-53-27_UTC/), where the
# Assignment List finds it.
c.ExchangeFactory.fetch_feedback = "attnlab.exchange.CourseFetchFeedback"
c.ExchangeFactory.list = "attnlab.exchange.CourseList"
