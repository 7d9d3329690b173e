#!/usr/bin/env bash
# Install Debian's Fashion-MNIST for `make demo` when possible; the demo falls back to scikit-learn digits.
set -u
[ -d /usr/share/datasets/fashion-mnist ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "could not install dataset-fashion-mnist; the demo will use scikit-learn's digits"
else
  echo "Fashion-MNIST is not installed (sudo apt-get install dataset-fashion-mnist); the demo uses scikit-learn's digits"
fi
exit 0
