# The students' image: JupyterLab 4, nbgrader's student side, and the student build of attnlab (check() and
# the public cases, with no reference code and no grader). Build it from the repository root:
#
#     make student-wheel
#     docker build -f deploy/student.Dockerfile -t attnlab-student .
#
# deploy/student.Dockerfile.dockerignore (BuildKit) limits the build context to the wheel and
# deploy/student-config/: nothing else of the repository can reach this image, by mistake or otherwise.

# Pin a dated tag (quay.io/jupyter/base-notebook:<date>) for a build you can repeat, whose jupyterhub
# has the major version of the chart's hub: jupyterhub-singleuser talks to the hub's API.
ARG BASE_TAG=python-3.11
FROM quay.io/jupyter/base-notebook:${BASE_TAG}

# torch first, from PyTorch's own index: the student wheel only names torch, and pip would take the CUDA
# build from PyPI (several GB) for pods that have no GPU. For GPU nodes, pass a CUDA index, for example
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126. TORCH_SPEC keeps attnlab's bounds
# (pyproject.toml), so that installing the wheel below does not replace this torch.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC="torch>=2.2,<2.14"
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"

# The student build, never the repository: the repository's install holds the answers (attnlab.reference,
# attnlab.answers), the hidden-test sources and the trusted grader.
COPY --chown=${NB_UID}:${NB_GID} dist/student/attnlab-*.whl /tmp/attnlab-student/
# nbgrader==0.9.6: the version the lab plugin names and the server extensions disabled below were checked with.
RUN pip install --no-cache-dir /tmp/attnlab-student/attnlab-*.whl \
        "jupyterlab>=4,<5" "nbgrader==0.9.6" "ipywidgets>=8" \
    && rm -rf /tmp/attnlab-student

# Students get the Assignments tab only: no "Create Assignment" (a tool for writing lessons), no formgrader
# and no course list (the instructor's), and no offer to fetch Jupyter's news from the internet.
COPY deploy/student-config/nbgrader_config.py deploy/student-config/jupyter_server_config.json /etc/jupyter/
COPY deploy/student-config/labconfig/page_config.json /etc/jupyter/labconfig/page_config.json
# /etc/jupyter is the lowest-priority folder by default: nbgrader's own jupyter_server_config.d in the conda
# prefix, which enables the formgrader, would win over the file above. Listed here, /etc/jupyter comes first.
ENV JUPYTER_CONFIG_PATH=/etc/jupyter

# The build fails, rather than ship, if the answers came in with the wheel.
RUN python -c "import attnlab; import importlib.util as u; assert u.find_spec('attnlab.reference') is None; \
assert u.find_spec('attnlab.answers') is None, 'the student image holds answers'"
