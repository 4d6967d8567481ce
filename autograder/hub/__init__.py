"""`attnlab hub`: the whole course in a real JupyterHub, in the foreground, on one machine.

This package belongs to the trusted side: it runs as the hub's user (the instructor's, or root) and in
the instructor's server, never beside student code. Students' servers run a separate Python
environment that holds only the student build (`attnlab.student_build`).

- `plan`: what a hub is made of (paths, users, mode, ports) and the log-in file; pure data, no processes.
- `course_root`: the course root on disk: nbgrader's course folder and exchange, every lesson in
  `attnlab/lessons/` generated and released, the Jupyter configuration of students and instructor, the student
  environment.
- `accounts`: `--system-users`: a Unix account per person, private homes, instructor-only files.
- `hubconfig`: `configure(c, plan_file)`, which the generated `jupyterhub_config.py` calls.
- `spawner`: the spawners: students get the student environment, the instructor the grader's.
- `collect`: nbgrader's collect, keeping only submissions that their student owns (`--system-users`).
- `launch`: `attnlab hub` itself: set up, start JupyterHub and its proxy, print the log-ins, wait.
"""
