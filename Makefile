# The two set-up commands of README.md. Each installs what it needs into .venv on first use.
SAMPLE ?=
ALIGN_USERS ?=
CONFIG ?= configs/amazon-office.yaml

.PHONY: demo test bootstrap
demo:
	@scripts/bootstrap.sh
	.venv/bin/recgpt run --config $(CONFIG) $(if $(SAMPLE),--sample-users $(SAMPLE),) \
		$(if $(ALIGN_USERS),$(ALIGN_FLAGS),)

# ALIGN_USERS=0: no alignment; ALIGN_USERS=N: alignment on, its training set built from N users
ALIGN_FLAGS = $(if $(filter 0,$(ALIGN_USERS)),--set alignment.enabled=false,--set alignment.enabled=true \
	--set alignment.incremental.max_users=$(ALIGN_USERS))

test:
	@scripts/bootstrap.sh --test
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bootstrap:
	@scripts/bootstrap.sh --test
