#!/bin/sh
# Prints the version tokenfed is built as (the Makefile's VERSION):
#
#   v0.1.0                   HEAD is tagged v0.1.0: a release
#   v0.1.0-dev.g1a2b3c4d5e6f HEAD is untagged: a development build of this
#                            commit on the way to the release in ./VERSION
#   ...-dirty / ....dirty    the tree has uncommitted changes
#
# Only a v* tag on HEAD itself makes a release: `git describe`'s
# v0.1.0-3-g<sha> would name a build after the release it has moved past,
# and a clone without tags would describe itself as a bare hash. Every form
# is a valid semver and a valid image tag (no "+").
#
# So after tagging a release, set VERSION to the next one (with a new
# CHANGELOG.md entry and config/default's newTag, which test/image keeps
# equal): until then, later commits build as development builds of the
# release they follow.
set -eu
cd "$(dirname "$0")/.."
next=$(cat VERSION)
if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	echo "$next-dev" # not a git checkout (a source archive)
	exit 0
fi
git update-index -q --refresh >/dev/null 2>&1 || true
dirty=
git diff-index --quiet HEAD -- || dirty=dirty
if tag=$(git describe --tags --exact-match --match 'v*' HEAD 2>/dev/null); then
	echo "$tag${dirty:+-$dirty}"
else
	echo "$next-dev.g$(git rev-parse --short=12 HEAD)${dirty:+.$dirty}"
fi
