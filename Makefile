# The two set-up commands of the README. Each installs what it needs.
.PHONY: demo test

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh
