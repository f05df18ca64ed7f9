#!/bin/sh
# Installs rootsnap's files under DESTDIR from a built checkout or release tarball (dist/
# made by `npm run build`): the one list the .deb, the PKGBUILD and the RPM spec all use.
# Usage: packaging/install.sh DESTDIR [--debian]
# ZSH_FUNCTIONS names zsh's directory for completions where it is not Debian's.
set -eu

dest=${1:?usage: packaging/install.sh DESTDIR [--debian]}
doc="$dest/usr/share/doc/rootsnap"

for built in dist/rootsnap.mjs dist/man/rootsnap.8 dist/man/rootsnap.toml.5 \
	dist/completions/rootsnap.bash dist/completions/_rootsnap dist/completions/rootsnap.fish \
	dist/rootsnap.toml.example; do
	[ -f "$built" ] || { echo "install.sh: $built is missing: run npm run build first" >&2; exit 1; }
done

# Run by the system's Node, where every distribution's nodejs package puts it.
install -d -m 0755 "$dest/usr/bin"
sed '1s|^#!.*|#!/usr/bin/node|' dist/rootsnap.mjs >"$dest/usr/bin/rootsnap"
chmod 0755 "$dest/usr/bin/rootsnap"

# gzip -n: no name or time in the header, so two builds are the same.
install -d -m 0755 "$dest/usr/share/man/man8" "$dest/usr/share/man/man5"
gzip -9n <dist/man/rootsnap.8 >"$dest/usr/share/man/man8/rootsnap.8.gz"
gzip -9n <dist/man/rootsnap.toml.5 >"$dest/usr/share/man/man5/rootsnap.toml.5.gz"
chmod 0644 "$dest/usr/share/man/man8/rootsnap.8.gz" "$dest/usr/share/man/man5/rootsnap.toml.5.gz"

install -D -m 0644 dist/completions/rootsnap.bash "$dest/usr/share/bash-completion/completions/rootsnap"
install -D -m 0644 dist/completions/_rootsnap "$dest${ZSH_FUNCTIONS:-/usr/share/zsh/vendor-completions}/_rootsnap"
install -D -m 0644 dist/completions/rootsnap.fish "$dest/usr/share/fish/vendor_completions.d/rootsnap.fish"

install -D -m 0644 packaging/copyright "$doc/copyright"
install -d -m 0755 "$doc/examples"
gzip -9n <packaging/changelog >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -m 0644 dist/rootsnap.toml.example "$doc/examples/rootsnap.toml"
install -m 0644 README.md "$doc/README.md"

if [ "${2:-}" = --debian ]; then
	install -D -m 0644 packaging/debian/lintian-overrides "$dest/usr/share/lintian/overrides/rootsnap"
fi
