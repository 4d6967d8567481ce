# The instructor's image: the full attnlab (the reference, the trusted grader and nbgrader's instructor
# side) and the lessons' nbgrader sources. Only the instructor's pod runs it (hub.extraConfig in
# deploy/values.yaml); students' pods run deploy/student.Dockerfile. Build it from the repository root:
#
#     docker build -f deploy/grader.Dockerfile -t attnlab-grader .
#
# Push it to a registry that students cannot pull from if you can: the image itself holds the answers.

ARG BASE_TAG=python-3.11
FROM quay.io/jupyter/base-notebook:${BASE_TAG}

# As in student.Dockerfile: the CPU build of torch unless a CUDA index is passed, within attnlab's bounds.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch>=2.2,<2.14"
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"

# The repository, less what deploy/grader.Dockerfile.dockerignore leaves out (git, builds, local venvs).
# Owned by jovyan, who runs pip: pip builds the project in its own folder.
COPY --chown=${NB_UID}:${NB_GID} . /tmp/attnlab-src
# The install also enables attnlab's Jupyter server extension (nbgrader's formgrader pages escape what they
# print); the build checks it below.
RUN pip install --no-cache-dir "/tmp/attnlab-src[nbgrader,dask]" "jupyterlab>=4,<5"

USER root
# The lessons' sources (solutions and hidden tests), which before-notebook.sh copies into the course volume
# the first time; the trusted grader's nbgrader configuration for course.yml, with the instructor's settings.
COPY deploy/grader-config/nbgrader_config.py /tmp/instructor_config.py
COPY deploy/grader-config/before-notebook.sh /usr/local/bin/before-notebook.d/10-attnlab-course.sh
COPY deploy/grader-config/page_config.json /etc/jupyter/labconfig/page_config.json
# Its pages may be framed by their own origin (JupyterLab embeds the formgrader), and there is no course list.
COPY deploy/grader-config/jupyter_server_config.json /etc/jupyter/jupyter_server_config.json
RUN mkdir -p /opt/attnlab \
    && cp -r /tmp/attnlab-src/assignments/source /opt/attnlab/source \
    && chmod -R a+rX /opt/attnlab \
    && attnlab nbgrader-config --exchange /srv/nbgrader/exchange > /etc/jupyter/nbgrader_config.py \
    && cat /tmp/instructor_config.py >> /etc/jupyter/nbgrader_config.py \
    && jupyter server extension list 2>&1 | grep -q "attnlab.formgrader_guard" \
    && rm -rf /tmp/attnlab-src /tmp/instructor_config.py
USER ${NB_UID}
# As in student.Dockerfile: /etc/jupyter first, over the conda prefix's and the home's configuration.
ENV JUPYTER_CONFIG_PATH=/etc/jupyter

# The formgrader is at https://<hub>/user/<instructor>/formgrader, in a tab of its own: embedded in JupyterLab
# behind JupyterHub >= 4.1 it stays blank (the hub's Content-Security-Policy frame-ancestors, nbgrader #1870).
# In a pod the grader's sandbox has no user namespaces and is not root: it runs student code under Landlock,
# seccomp and rlimits (see the README's threat model); `attnlab doctor` in a terminal says which layers hold.
