"""Where a run's outputs go: each configuration has its own results folder, so a custom
run never overwrites the default's.

Snakemake merges ``--configfile`` files in order (later keys override earlier ones,
nested mappings key by key), so a small file after ``config.yaml`` overrides it, and a
file alone replaces it. The folder is the merged config's ``results_dir`` if it sets
one; otherwise ``results`` for ``./config.yaml`` alone, and else ``results-`` followed by
the files' paths (relative to the working folder, without ``.yaml``, ``/`` written as
``.``) joined by ``+``: ``my.yaml`` gives ``results-my``, ``config.yaml my.yaml``
``results-config+my``, ``a/my.yaml`` ``results-a.my``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["results_dir"]


def results_dir(configfiles, config=None) -> str:
    """The results folder of a run on ``configfiles`` (``config``: their merged content,
    read from the files when not given)."""
    if not configfiles:
        raise ValueError("results_dir needs the run's config files.")
    if config is None:
        import yaml
        config = {}
        for path in configfiles:
            config.update(yaml.safe_load(Path(path).read_text()) or {})
    if config.get("results_dir"):
        return str(config["results_dir"])
    names = []
    for path in map(Path, configfiles):
        path = path.resolve()
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:  # outside the working folder: its absolute path
            path = Path(*path.parts[1:])
        names.append(".".join(path.with_suffix("").parts))
    return "results" if names == ["config"] else "results-" + "+".join(names)
