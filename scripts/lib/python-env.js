'use strict';
// The Python trainer's virtual environment (.tools/py), built from trainers/python/pyproject.toml with
// pip. Like setup.js's npm step it is stamped with a hash of what it was installed from (the pinned
// requirements and the interpreter's version), so it is rebuilt only when those change; the package
// itself is installed editable, so edits to trainers/python need no reinstall. Plain Node, no
// dependencies: it runs before anything else is installed. `node scripts/lib/python-env.js` builds it.
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** Where the environment of the checkout under `root` lives, and what it is built from. */
function pythonEnvPaths(root = ROOT) {
  const venv = path.join(root, '.tools', 'py');
  return {
    venv,
    python: path.join(venv, 'bin', 'python'),
    stamp: path.join(venv, '.retrain-requirements-hash'),
    project: path.join(root, 'trainers', 'python'),
  };
}

/** The hash the stamp holds: the pinned requirements and the interpreter that builds the venv. */
function requirementsHash(project, interpreterVersion) {
  return createHash('sha256')
    .update(fs.readFileSync(path.join(project, 'pyproject.toml')))
    .update(interpreterVersion)
    .digest('hex');
}

/** Size of a directory in bytes (du when present, else a walk). */
function sizeOf(dir) {
  try {
    return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;
  } catch {
    let total = 0;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) total += sizeOf(full);
      else if (entry.isFile()) total += fs.statSync(full).size;
    }
    return total;
  }
}

/**
 * Creates `.tools/py` with `python3 -m venv` and installs trainers/python (with its dev tools) when the
 * pinned requirements changed since the last install; returns the venv's python. Logs the install's
 * time and the environment's size through `log` (nothing when the stamp says it is up to date).
 * @param {{ root?: string, python3?: string, log?: (line: string) => void }} [options]
 */
function ensurePythonEnv(options = {}) {
  const { root = ROOT, python3 = process.env.PYTHON3 || 'python3' } = options;
  const log = options.log ?? ((line) => process.stderr.write(`[python-env] ${line}\n`));
  const { venv, python, stamp, project } = pythonEnvPaths(root);
  const interpreterVersion = execFileSync(python3, ['--version'], { encoding: 'utf8' }).trim();
  const want = requirementsHash(project, interpreterVersion);
  if (fs.existsSync(python) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) {
    return python;
  }
  const started = Date.now();
  log(
    `installing trainers/python into ${path.relative(root, venv)} (${interpreterVersion}; PyTorch brings CUDA libraries, minutes)`,
  );
  fs.rmSync(stamp, { force: true });
  if (!fs.existsSync(python)) execFileSync(python3, ['-m', 'venv', venv], { stdio: ['ignore', 2, 2] });
  const pip = [python, '-m', 'pip', '--disable-pip-version-check', '--no-input', 'install'];
  execFileSync(pip[0], [...pip.slice(1), '--editable', `${project}[dev]`], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  fs.writeFileSync(stamp, want);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const gib = (sizeOf(venv) / 1024 ** 3).toFixed(2);
  log(`installed in ${seconds} s; ${path.relative(root, venv)} holds ${gib} GiB`);
  return python;
}

module.exports = { ensurePythonEnv, pythonEnvPaths, requirementsHash };

if (require.main === module) {
  try {
    process.stdout.write(`${ensurePythonEnv()}\n`);
  } catch (err) {
    process.stderr.write(`[python-env] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
