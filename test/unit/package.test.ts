// npm run package: the .deb lintian passes, with the program, both man pages and the three
// completions; the RPM spec builds with rpmbuild and the PKGBUILD installs the same files.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { before, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const version = (
  JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }
).version;
const deb = join(REPO, "dist", `rootsnap_${version}_all.deb`);
const tarball = join(REPO, "dist", `rootsnap-${version}.tar.gz`);

function have(t: TestContext, program: string): boolean {
  if (spawnSync("sh", ["-c", `command -v ${program}`]).status === 0) return true;
  if (process.env.CI) assert.fail(`${program} is needed for this test`);
  t.skip(`${program} is not installed`);
  return false;
}

function sh(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(argv[0] ?? "", argv.slice(1), {
    encoding: "utf8",
    cwd: options.cwd ?? REPO,
    env: { ...process.env, LC_ALL: "C", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** The regular files under a tree, as absolute paths of the installed system. */
function tree(root: string): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? walk(path) : [`/${relative(root, path)}`];
    });
  return walk(root).sort();
}

/** The .deb's files, with the paths another distribution keeps elsewhere mapped to its own. */
function debFiles(zshDir?: string): string[] {
  return sh(["sh", "-c", `dpkg-deb --fsys-tarfile '${deb}' | tar -t`])
    .split("\n")
    .filter((path) => path !== "" && !path.endsWith("/"))
    .map((path) => path.replace(/^\./, ""))
    .filter((path) => !path.startsWith("/usr/share/lintian/"))
    .map((path) =>
      zshDir === undefined ? path : path.replace("/usr/share/zsh/vendor-completions", zshDir),
    )
    .sort();
}

before(() => {
  if (spawnSync("sh", ["-c", "command -v dpkg-deb"]).status !== 0 && !process.env.CI) return;
  sh([process.execPath, "scripts/package.mjs"]);
});

test("the .deb holds the program, both man pages, the completions and the doc files, owned by root", (t) => {
  if (!have(t, "dpkg-deb")) return;
  const listing = sh(["dpkg-deb", "-c", deb]);
  for (const path of [
    "./usr/bin/rootsnap",
    "./usr/share/man/man8/rootsnap.8.gz",
    "./usr/share/man/man5/rootsnap.toml.5.gz",
    "./usr/share/bash-completion/completions/rootsnap",
    "./usr/share/zsh/vendor-completions/_rootsnap",
    "./usr/share/fish/vendor_completions.d/rootsnap.fish",
    "./usr/share/doc/rootsnap/copyright",
    "./usr/share/doc/rootsnap/changelog.gz",
    "./usr/share/doc/rootsnap/examples/rootsnap.toml",
  ])
    assert.match(listing, new RegExp(`root/root .* ${path.replace(/\./g, "\\.")}\n`), path);
  assert.match(listing, /^-rwxr-xr-x root\/root .* \.\/usr\/bin\/rootsnap$/m);
  const control = sh(["dpkg-deb", "-f", deb]);
  assert.match(control, /^Depends: nodejs \(>= 18\.19\), lvm2, tar \(>= [\d.]+\), zstd$/m);
  assert.match(control, /^Recommends: thin-provisioning-tools$/m);
  assert.match(control, /^Architecture: all$/m);
  const program = sh(["sh", "-c", `dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./usr/bin/rootsnap`]);
  assert.match(program, /^#!\/usr\/bin\/node\n/, "run by the system's Node");
});

test("lintian passes the .deb, every override with its reason", (t) => {
  if (!have(t, "lintian")) return;
  // lintian leaves files in its TMPDIR.
  const scratch = mkdtempSync(join(tmpdir(), "rootsnap-lintian-"));
  t.after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });
  const result = spawnSync(
    "lintian",
    ["--pedantic", "--fail-on", "error,warning,info,pedantic", deb],
    { encoding: "utf8", env: { ...process.env, TMPDIR: scratch } },
  );
  const tags = result.stdout.split("\n").filter((line) => /^[EWIPX]: /.test(line));
  assert.deepEqual(tags, [], result.stdout);
  assert.equal(result.status, 0, result.stderr);
  const overrides = readFileSync(join(REPO, "packaging", "debian", "lintian-overrides"), "utf8");
  const lines = overrides.split("\n");
  lines.forEach((line, index) => {
    if (line.startsWith("rootsnap: "))
      assert.match(lines[index - 1] ?? "", /^# /, `the override "${line}" has its reason above it`);
  });
});

test("the maintainer scripts: remove runs rootsnap uninstall first, purge keeps the sets", (t) => {
  if (!have(t, "dpkg-deb")) return;
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-ctl-"));
  try {
    sh(["dpkg-deb", "-e", deb, dir]);
    const prerm = readFileSync(join(dir, "prerm"), "utf8");
    assert.match(prerm, /"\$1" = remove .*\n.*\/usr\/bin\/rootsnap uninstall --yes/);
    const postrm = readFileSync(join(dir, "postrm"), "utf8");
    assert.doesNotMatch(
      postrm,
      /lvremove +[^V]|vgremove|lvconvert/,
      "purge never removes a volume",
    );
    assert.match(postrm, /sets are kept/);
    // A first install only says what comes next; an upgrade refreshes what setup installed.
    const fresh = sh(["sh", join(dir, "postinst"), "configure", ""]);
    assert.match(fresh, /the boot is unchanged[\s\S]*'rootsnap setup'/);
    // Reinstalled after a remove, with no setup in place: the same words.
    const again = sh(["sh", join(dir, "postinst"), "configure", "0.0.1"]);
    assert.equal(again, fresh);
    const postinst = readFileSync(join(dir, "postinst"), "utf8");
    assert.match(
      postinst,
      /\[ -e \/etc\/systemd\/system\/rootsnap-boot\.service \][^\n]*\n[^\n]*\n\t\tif ! \/usr\/bin\/rootsnap setup --yes/,
    );
    for (const script of ["postinst", "prerm", "postrm"])
      assert.equal(statSync(join(dir, script)).mode & 0o777, 0o755);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the RPM spec builds with rpmbuild and installs the .deb's files", (t) => {
  if (!have(t, "rpmbuild") || !have(t, "dpkg-deb")) return;
  const top = mkdtempSync(join(tmpdir(), "rootsnap-rpm-"));
  try {
    mkdirSync(join(top, "SOURCES"));
    sh(["cp", tarball, join(top, "SOURCES")]);
    sh([
      "rpmbuild",
      "-bb",
      "--nodeps",
      "--define",
      `_topdir ${top}`,
      join(REPO, "packaging", "rootsnap.spec"),
    ]);
    const rpm = join(top, "RPMS", "noarch", `rootsnap-${version}-1.noarch.rpm`);
    const listed = sh(["rpm", "-qlp", rpm])
      .split("\n")
      .filter((p) => p !== "");
    const files = listed.filter((path) => !/^\/usr\/share\/doc\/rootsnap(\/examples)?$/.test(path));
    assert.deepEqual(files.sort(), debFiles("/usr/share/zsh/site-functions"));
    const requires = sh(["rpm", "-qp", "--requires", rpm]);
    for (const need of ["nodejs >= 18.19", "lvm2", "tar", "zstd"])
      assert.ok(requires.split("\n").includes(need), `Requires: ${need}`);
    const scripts = sh(["rpm", "-qp", "--scripts", rpm]);
    assert.match(scripts, /preuninstall[\s\S]*\/usr\/bin\/rootsnap uninstall --yes/);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test("the PKGBUILD's source is the release tarball and its package() installs the .deb's files", (t) => {
  if (!have(t, "bash") || !have(t, "dpkg-deb")) return;
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-arch-"));
  try {
    const src = join(dir, "src");
    const pkg = join(dir, "pkg");
    mkdirSync(src);
    mkdirSync(pkg);
    const pkgbuild = join(REPO, "packaging", "PKGBUILD");
    const sourceName = sh([
      "bash",
      "-c",
      `source '${pkgbuild}'; [ "$pkgver" = '${version}' ] || exit 3; printf '%s\\n' "\${source[@]}"`,
    ]).trim();
    assert.equal(sourceName, `rootsnap-${version}.tar.gz`, "the tarball npm run package makes");
    sh(["tar", "-C", src, "-xzf", tarball]);
    sh(["bash", "-e", "-c", `source '${pkgbuild}'; srcdir='${src}' pkgdir='${pkg}' package`]);
    const installed = tree(pkg).filter((path) => !path.startsWith("/usr/share/licenses/"));
    assert.deepEqual(installed, debFiles("/usr/share/zsh/site-functions"));
    assert.ok(tree(pkg).includes("/usr/share/licenses/rootsnap/LICENSE"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm pack ships only what runs: the bundle, its man pages, completions and example", () => {
  const [packed] = JSON.parse(sh(["npm", "pack", "--dry-run", "--json", "--ignore-scripts"])) as [
    { files: { path: string }[] },
  ];
  assert.deepEqual(packed.files.map((file) => file.path).sort(), [
    "LICENSE",
    "README.md",
    "dist/completions/_rootsnap",
    "dist/completions/rootsnap.bash",
    "dist/completions/rootsnap.fish",
    "dist/man/rootsnap.8",
    "dist/man/rootsnap.toml.5",
    "dist/rootsnap.mjs",
    "dist/rootsnap.toml.example",
    "package.json",
  ]);
  const manifest = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  assert.deepEqual(manifest.dependencies ?? {}, {}, "the bundle needs no node_modules at run time");
});
