// Tiny packages built inside a guest, for updates through the package manager's hooks.
import type { Machine } from "../rig/index.ts";

/** Builds a package in the guest; `postinst` is its maintainer script, if any. */
export async function makeDeb(m: Machine, name: string, postinst?: string): Promise<string> {
  const deb = `/root/${name}_1.0_all.deb`;
  await m.sh(
    `rm -rf /tmp/${name} && mkdir -p /tmp/${name}/DEBIAN /tmp/${name}/usr/share/${name} &&
     printf 'Package: ${name}\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: rootsnap tests <tests@example.invalid>\\nDescription: rootsnap test package\\n' > /tmp/${name}/DEBIAN/control &&
     echo ${name} > /tmp/${name}/usr/share/${name}/payload &&
     ${postinst ? `printf '#!/bin/sh\\n${postinst}\\n' > /tmp/${name}/DEBIAN/postinst && chmod 755 /tmp/${name}/DEBIAN/postinst &&` : ""}
     dpkg-deb -b /tmp/${name} ${deb} >/dev/null`,
  );
  return deb;
}

/** apt-get install as an unattended update runs it. */
export const APT_INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q";
