"""The fixed list of incident categories, with the agencies that serve each by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_id: str
    name_en: str
    agencies: tuple[str, ...]  # agency codes suggested for dispatch


@dataclass(frozen=True, slots=True)
class AgencySeed:
    code: str
    name: str
    categories: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("FIRE", "Kebakaran", "Fire", ("damkar",)),
    Category("RESCUE", "Penyelamatan / evakuasi", "Rescue", ("damkar", "bpbd")),
    Category("MEDICAL", "Kegawatdaruratan medis", "Medical emergency", ("dinkes",)),
    Category(
        "TRAFFIC", "Kecelakaan lalu lintas", "Traffic accident", ("dishub", "dinkes", "polres")
    ),
    Category("DISASTER", "Bencana alam", "Natural disaster", ("bpbd", "dinsos", "dinkes")),
    Category("CRIME", "Kriminalitas / keamanan", "Crime / security", ("polres",)),
    Category("PUBLIC_ORDER", "Ketertiban umum", "Public order", ("damkar", "polres")),
    Category("SOCIAL", "Masalah sosial", "Social services", ("dinsos",)),
    Category("NARCOTICS", "Kedaruratan narkotika", "Narcotics emergency", ("bnn", "polres")),
    Category(
        "WOMEN_CHILDREN",
        "Kekerasan terhadap perempuan dan anak",
        "Violence against women and children",
        ("dpppa", "polres"),
    ),
    Category("ENVIRONMENT", "Lingkungan / sampah", "Environment / waste", ("dlh",)),
    Category("INFORMATION", "Permintaan informasi", "Information request", ()),
    Category("OTHER", "Lainnya", "Other", ()),
)

CATEGORY_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}

AGENCY_SEEDS: tuple[AgencySeed, ...] = (
    AgencySeed("damkar", "Satpol PP dan Pemadam Kebakaran", ("FIRE", "RESCUE", "PUBLIC_ORDER")),
    AgencySeed("dinkes", "Dinas Kesehatan / PSC 119", ("MEDICAL", "TRAFFIC", "DISASTER")),
    AgencySeed("dlh", "Dinas Lingkungan Hidup", ("ENVIRONMENT",)),
    AgencySeed("bpbd", "Badan Penanggulangan Bencana Daerah", ("DISASTER", "RESCUE")),
    AgencySeed("dishub", "Dinas Perhubungan", ("TRAFFIC",)),
    AgencySeed("dinsos", "Dinas Sosial", ("SOCIAL", "DISASTER")),
    AgencySeed("bnn", "Badan Narkotika Nasional", ("NARCOTICS",)),
    AgencySeed("dpppa", "Dinas Pemberdayaan Perempuan dan Perlindungan Anak", ("WOMEN_CHILDREN",)),
    AgencySeed(
        "polres",
        "Kepolisian Resor (110)",
        ("CRIME", "TRAFFIC", "PUBLIC_ORDER", "NARCOTICS", "WOMEN_CHILDREN"),
    ),
)


def suggested_agencies(category_code: str | None) -> tuple[str, ...]:
    if category_code is None:
        return ()
    category = CATEGORY_BY_CODE.get(category_code)
    return category.agencies if category else ()
