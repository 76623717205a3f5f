#!/usr/bin/env bash
# Installs dciodvfy (Debian's dicom3tools), which the DICOM SEG tests use to validate the files they write.
# Idempotent; prints what it does. Without root or network it says so and those checks are skipped.
set -u
if command -v dciodvfy >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup_dicom_tools] installing Debian dicom3tools (dciodvfy)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools >/dev/null) \
    || echo "[setup_dicom_tools] could not install dicom3tools; the dciodvfy checks will be skipped"
else
  echo "[setup_dicom_tools] dciodvfy missing and not root with apt-get; the dciodvfy checks will be skipped"
fi
exit 0
