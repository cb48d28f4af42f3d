"""The first page of the HTML report: what a configuration ran and, where it registers
the paper's cells and claims, whether the paper holds, with both tables inline.

Snakemake renders the page from reStructuredText (through Jinja2, then docutils); the
tables go in as raw HTML, guarded from Jinja2.
"""

from __future__ import annotations

from .html_tables import html_table
from .paper_check import claim_summary, claims_table, verdict_summary, verdicts_table

__all__ = ["landing_rst"]


def _raw(markup: str) -> str:
    """An RST raw-HTML block whose content Jinja2 leaves alone (the block's first
    characters are not a Jinja2 tag: Snakemake's Jinja2 strips the indentation before one,
    which would leave the directive without content)."""
    return ".. raw:: html\n\n   <div>{% raw %}" + markup.replace("\n", " ") + "{% endraw %}</div>\n"


def landing_rst(description: str, name: str, experiments: dict, verdicts=None,
                claims=None) -> str:
    """The report's first page.

    Parameters
    ----------
    description : str
        What the workflow does (reStructuredText).
    name : str
        The configuration's name (its files), shown in the title.
    experiments : dict
        {experiment: title} of what this configuration ran.
    verdicts, claims : pandas.DataFrame, optional
        :func:`idrs.results.paper_check.check`'s tables, where the configuration
        registers the paper's cells and claims; otherwise the page says it does not.

    Returns
    -------
    str
        reStructuredText with the counts on top and both tables inline.
    """
    title = f"idrs: {name}"
    parts = [f"{title}\n{'=' * len(title)}\n", description.strip() + "\n",
             "Experiments: " + "; ".join(f"**{e}** ({t})" for e, t in experiments.items())
             + ".\n"]
    if verdicts is None:
        parts.append("This configuration registers none of the paper's printed cells or "
                     "claims (no ``paper_registry``): its report holds its own experiments "
                     "only.\n")
        return "\n".join(parts)
    parts += [
        "Does the paper hold?\n--------------------\n",
        f"**{verdict_summary(verdicts)}**. **Claims**: {claim_summary(claims)}.\n",
        "Printed cells\n~~~~~~~~~~~~~\n", _raw(html_table(verdicts_table(verdicts))),
        "Claims\n~~~~~~\n", _raw(html_table(claims_table(claims)))]
    return "\n".join(parts)
