"""King County ZIP codes: postal city names and the areas agents cover.

The city is the USPS default place name of the ZIP code (the mailing city),
not a municipal boundary: several "Seattle" ZIPs (98146-98198) also cover
Burien, Shoreline, Tukwila or SeaTac. A ZIP not listed here gets "King County".
"""

from __future__ import annotations

COUNTY = "King County"

_CITIES: dict[str, tuple[str, ...]] = {
    "Auburn": ("98001", "98002", "98092"),
    "Federal Way": ("98003", "98023"),
    "Bellevue": ("98004", "98005", "98006", "98007", "98008"),
    "Black Diamond": ("98010",),
    "Bothell": ("98011",),
    "Carnation": ("98014",),
    "Duvall": ("98019",),
    "Enumclaw": ("98022",),
    "Fall City": ("98024",),
    "Issaquah": ("98027", "98029"),
    "Kenmore": ("98028",),
    "Kent": ("98030", "98031", "98032", "98042"),
    "Kirkland": ("98033", "98034"),
    "Maple Valley": ("98038",),
    "Medina": ("98039",),
    "Mercer Island": ("98040",),
    "North Bend": ("98045",),
    "Redmond": ("98052", "98053"),
    "Renton": ("98055", "98056", "98058", "98059"),
    "Snoqualmie": ("98065",),
    "Vashon": ("98070",),
    "Woodinville": ("98072", "98077"),
    "Sammamish": ("98074", "98075"),
}
CITY_BY_ZIP: dict[str, str] = {z: city for city, zips in _CITIES.items() for z in zips}


def city_for(zipcode: str) -> str:
    if zipcode in CITY_BY_ZIP:
        return CITY_BY_ZIP[zipcode]
    if zipcode.startswith("981") and "98101" <= zipcode <= "98199":
        return "Seattle"
    return COUNTY


# Agents' territories: neighbouring ZIPs grouped into eight market areas.
AREAS: dict[str, tuple[str, ...]] = {
    "Seattle North": ("98103", "98105", "98107", "98115", "98117", "98125", "98133", "98155", "98177"),
    "Seattle Central": ("98102", "98109", "98112", "98119", "98122", "98144", "98199"),
    "Seattle South & West": (
        "98106", "98108", "98116", "98118", "98126", "98136", "98146", "98168", "98178",
    ),
    "Eastside": ("98004", "98005", "98006", "98007", "98008", "98033", "98034", "98039", "98040", "98052"),
    "Northeast King": ("98011", "98014", "98019", "98028", "98053", "98072", "98077"),
    "Issaquah & Snoqualmie Valley": ("98024", "98027", "98029", "98045", "98065", "98074", "98075"),
    "Renton, Kent & Southeast": (
        "98010", "98022", "98030", "98031", "98032", "98038", "98042", "98055", "98056", "98058", "98059",
    ),
    "Southwest King": ("98001", "98002", "98003", "98023", "98070", "98092", "98148", "98166", "98188", "98198"),
}
AREA_BY_ZIP: dict[str, str] = {z: area for area, zips in AREAS.items() for z in zips}
AREA_NAMES: tuple[str, ...] = tuple(AREAS)
