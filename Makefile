# Two commands for a fresh clone:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(CURDIR)/$(VENV)/bin
# pip, npm and the kit's own commands are looked up on PATH (data provisioning runs pip).
export PATH := $(BIN):$(PATH)

.PHONY: install start demo test data release grade benchmarks clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	# nbgrader's formgrader with the kit's Autograde and Generate feedback (i2dl_course/formgrader.py)
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	echo '{"ServerApp": {"jpserver_extensions": {"i2dl_course.formgrader": true}}}' \
	    > $(VENV)/etc/jupyter/jupyter_server_config.d/i2dl_course.json
	touch $@

start: install         ## students: copy the exercise into work/ (or FOLDER=...) and open it in JupyterLab
	$(BIN)/i2dl start $(FOLDER)

demo: install          ## provision data, regenerate the release, grade example submissions
	$(BIN)/i2dl demo

test: install          ## the whole test suite (exit code 5, "no tests collected", counts as success)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

data: install          ## provision MNIST and print the split summary
	$(BIN)/i2dl data

release: install       ## regenerate release/ from source/ with nbgrader
	$(BIN)/i2dl release

grade: install         ## grade a folder of submissions: make grade SUBMISSIONS=path/to/folder
	$(BIN)/i2dl grade $(SUBMISSIONS)

benchmarks: install    ## timing figures (not part of the tests)
	for b in notebook_speed autoencoder_notebook batchnorm_dropout_notebook grading grading_cluster similarity; do $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:                 ## remove grading output (keeps data and .venv)
	rm -rf autograded/*/ feedback submitted grades.csv similarity.csv similarity.html integrity.csv integrity.html items.csv items.html gradebook.db demo .grading
