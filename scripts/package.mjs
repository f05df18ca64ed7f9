// npm run package: dist/rootsnap_VERSION_all.deb, built with dpkg-deb from the bundle and the
// files the build makes beside it. Every file's owner is root, its mode set here, its time
// SOURCE_DATE_EPOCH's (else the last commit's), so two builds of one commit are the same.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const run = (argv) =>
  execFileSync(argv[0], argv.slice(1), { stdio: ["ignore", "inherit", "inherit"] });

run([process.execPath, "scripts/build.mjs"]);

function epoch() {
  const fixed = process.env.SOURCE_DATE_EPOCH;
  if (fixed !== undefined && /^\d+$/.test(fixed)) return Number(fixed);
  try {
    return Number(
      execFileSync("git", ["log", "-1", "--format=%ct"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim(),
    );
  } catch {
    return Math.floor(Date.now() / 1000);
  }
}

const time = epoch();
const env = { ...process.env, SOURCE_DATE_EPOCH: String(time) };

// The release tarball the PKGBUILD and the RPM spec build from: the built files and
// packaging/, under rootsnap-VERSION/.
const tarball = join("dist", `rootsnap-${pkg.version}.tar.gz`);
const contents = [
  "dist/rootsnap.mjs",
  "dist/man",
  "dist/completions",
  "dist/rootsnap.toml.example",
  "packaging",
  "README.md",
  "LICENSE",
];
execFileSync(
  "tar",
  [
    "--create",
    "--use-compress-program=gzip -9n",
    "--file",
    tarball,
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=@${time}`,
    "--mode=go-w",
    `--transform=s|^|rootsnap-${pkg.version}/|`,
    "--",
    ...contents,
  ],
  { stdio: ["ignore", "inherit", "inherit"], env },
);
process.stderr.write(`${tarball}: ${statSync(tarball).size} bytes\n`);

/** The .deb, from a tree packaging/install.sh fills; dpkg-deb sets every owner to root. */
function buildDeb() {
  const root = join("dist", "deb", `rootsnap_${pkg.version}_all`);
  rmSync(join("dist", "deb"), { recursive: true, force: true });

  mkdirSync(root, { recursive: true });
  run(["sh", "packaging/install.sh", root, "--debian"]);

  const control = join(root, "DEBIAN");
  mkdirSync(control, { recursive: true });
  for (const script of ["postinst", "prerm", "postrm"]) {
    copyFileSync(join("packaging", "debian", script), join(control, script));
    chmodSync(join(control, script), 0o755);
  }

  function walk(dir) {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? [path, ...walk(path)] : [path];
    });
  }

  const payload = walk(root).filter((path) => !path.startsWith(control));
  const files = payload.filter((path) => statSync(path).isFile()).sort();
  const md5sums = files
    .map(
      (path) =>
        `${createHash("md5").update(readFileSync(path)).digest("hex")}  ${relative(root, path)}\n`,
    )
    .join("");
  writeFileSync(join(control, "md5sums"), md5sums);
  const kib = files.reduce((sum, path) => sum + Math.ceil(statSync(path).size / 1024), 0);

  // GNU tar 1.27 brought --xattrs and --acls; a version also says that tar, essential
  // anyway, is here for its features.
  writeFileSync(
    join(control, "control"),
    `Package: rootsnap
Version: ${pkg.version}
Architecture: all
Maintainer: rootsnap maintainers <maintainers@rootsnap.org>
Installed-Size: ${kib}
Depends: nodejs (>= 18.19), lvm2, tar (>= 1.27), zstd
Recommends: thin-provisioning-tools
Section: admin
Priority: optional
Homepage: https://github.com/rootsnap/rootsnap
Description: LVM snapshot sets of a whole system, at boot and before updates
 rootsnap takes LVM snapshots of the root volume and any other volume as one
 set: at boot, before every apt, pacman or dnf transaction, or on demand.
 A set can be mounted read-only, archived with GNU tar while the system keeps
 running, reverted with lvconvert --merge (a root revert finishes at the next
 boot), or dropped to keep the change.
 .
 Installing the package changes nothing in the boot; rootsnap setup installs
 the boot-time unit, the update hooks and the GRUB entry, and rootsnap
 uninstall takes them away again.
`,
  );
  chmodSync(join(control, "control"), 0o644);
  chmodSync(join(control, "md5sums"), 0o644);
  for (const path of walk(root)) if (statSync(path).isDirectory()) chmodSync(path, 0o755);
  chmodSync(root, 0o755);
  for (const path of [...walk(root), root]) utimesSync(path, time, time);

  const deb = join("dist", `rootsnap_${pkg.version}_all.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", root, deb], {
    stdio: ["ignore", "inherit", "inherit"],
    env,
  });
  process.stderr.write(`${deb}: ${statSync(deb).size} bytes\n`);
}

if (spawnSync("dpkg-deb", ["--version"], { stdio: "ignore" }).status === 0) buildDeb();
else process.stderr.write("dpkg-deb not found: only the release tarball is made\n");
