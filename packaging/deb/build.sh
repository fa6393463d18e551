#!/bin/bash
# Build dist/nfacct-exporter_<version>_<arch>.deb from the package registries alone: a virtual
# environment for Debian's /usr/bin/python3 under /opt/nfacct-exporter holding this tree and its
# PyPI dependencies, the command on the PATH, the systemd units, the conffiles, the man page, the
# dashboards and alert rules, packed with dpkg-deb. `make deb` runs it; pip's downloads are cached
# in .cache/pip (or $PIP_CACHE_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/packaging/deb"
cd "$top"
PY=/usr/bin/python3  # the target's Python: the venv, its bytecode and its wheels match it
OPT=/opt/nfacct-exporter
version=$(sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' nfacct_exporter/__init__.py)
arch=$(dpkg --print-architecture)
stage="$top/build/deb/root"
out="$top/dist/nfacct-exporter_${version}_${arch}.deb"
cache=${PIP_CACHE_DIR:-$top/.cache/pip}

rm -rf "$top/build/deb" "$top/build/lib"
mkdir -p "$stage" "$top/dist"
umask 022

# --- the virtual environment ---------------------------------------------------------------
$PY -m venv "$stage$OPT"
"$stage$OPT/bin/python" -m pip install -q --disable-pip-version-check --cache-dir "$cache" \
    --no-warn-script-location "$top"
"$stage$OPT/bin/python" -m pip uninstall -q -y --disable-pip-version-check pip setuptools
# only our command and the interpreter links stay in bin/ (not activate: it names the stage)
find "$stage$OPT/bin" -type f ! -name nfacct-exporter -delete
# scripts and pyvenv.cfg name the staging path: point them at the installed one
grep -rlF "$stage$OPT" "$stage$OPT/bin" "$stage$OPT/pyvenv.cfg" \
    | xargs -r sed -i "s|$stage$OPT|$OPT|g"
find "$stage$OPT" -name direct_url.json -delete  # the build machine's path, nothing else
find "$stage$OPT" -name __pycache__ -type d -prune -exec rm -rf {} +
# bytecode compiled now, for the installed paths: the service's file system is read-only
$PY -m compileall -q -j0 -s "$stage" -p / "$stage$OPT/lib" >/dev/null

# --- files around it -----------------------------------------------------------------------
install -d "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/nfacct-exporter" \
    "$stage/etc/default" "$stage/usr/share/man/man1" \
    "$stage/usr/share/nfacct-exporter/dashboards" "$stage/usr/share/nfacct-exporter/alerts" \
    "$stage/usr/share/doc/nfacct-exporter/examples"
ln -s "$OPT/bin/nfacct-exporter" "$stage/usr/bin/nfacct-exporter"
sed 's|^ExecStart=/usr/local/bin/nfacct-exporter |ExecStart=/usr/bin/nfacct-exporter |' \
    deploy/systemd/nfacct-exporter.service > "$stage/lib/systemd/system/nfacct-exporter.service"
grep -q '^ExecStart=/usr/bin/nfacct-exporter ' "$stage/lib/systemd/system/nfacct-exporter.service"
install -m 644 deploy/systemd/nfacct-exporter.socket "$stage/lib/systemd/system/"
install -m 644 "$here/config.yaml" "$stage/etc/nfacct-exporter/config.yaml"
install -m 644 "$here/default" "$stage/etc/default/nfacct-exporter"
gzip -9n < packaging/nfacct-exporter.1 > "$stage/usr/share/man/man1/nfacct-exporter.1.gz"
install -m 644 dashboards/*.json "$stage/usr/share/nfacct-exporter/dashboards/"
install -m 644 deploy/prometheus/alerts.yml deploy/prometheus/alerts_test.yml \
    "$stage/usr/share/nfacct-exporter/alerts/"
install -m 644 "$here/copyright" README.md "$stage/usr/share/doc/nfacct-exporter/"
install -m 644 config.example.yaml "$stage/usr/share/doc/nfacct-exporter/examples/"

# --- control -------------------------------------------------------------------------------
install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" \
    > "$stage/DEBIAN/control"
printf '/etc/nfacct-exporter/config.yaml\n/etc/default/nfacct-exporter\n' \
    > "$stage/DEBIAN/conffiles"
install -m 755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum > DEBIAN/md5sums)
dpkg-deb --root-owner-group -Zxz -z6 --build "$stage" "$out" >/dev/null
echo "$out"
