# Sourced by the docker-stacks start.sh (/usr/local/bin/before-notebook.d/) before the instructor's server
# starts. The course volume starts empty: the first start gives it the lessons' nbgrader sources. Any later
# start changes nothing, so the instructor's edits, the gradebook and the submissions are never overwritten.
# Sourced, not run: no `exit` and no `set -e` here, or the server would not start.
if [ -d "${HOME}/course" ] && [ ! -e "${HOME}/course/source" ]; then
    cp -r /opt/attnlab/source "${HOME}/course/source" \
        && echo "attnlab: copied the lessons' sources into ${HOME}/course/source"
fi
