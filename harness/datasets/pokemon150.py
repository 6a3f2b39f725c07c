"""The 150-class Pokemon set (Kaggle `lantian773030/pokemonclassification`): PokemonData/<class>/,
no split given; split here 80/20 within each class with a fixed seed (REPORTS.md's choice),
and 10% of each class's training part held out for validation."""

from __future__ import annotations

from pathlib import Path

from ._download import kaggle_download
from ._images import class_folders, decode_labelled, image_files
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, register_task
from ._split import SPLIT_SEED, VAL_FRACTION, stratified

VAL_SEED = 1  # the validation part is drawn from the rest with a seed of its own

KAGGLE = "lantian773030/pokemonclassification"
TEST_FRACTION = 0.2
# The 150 class folders of the Kaggle set, sorted: the class index is the position here.
CLASSES = (
    "Abra",
    "Aerodactyl",
    "Alakazam",
    "Alolan Sandslash",
    "Arbok",
    "Arcanine",
    "Articuno",
    "Beedrill",
    "Bellsprout",
    "Blastoise",
    "Bulbasaur",
    "Butterfree",
    "Caterpie",
    "Chansey",
    "Charizard",
    "Charmander",
    "Charmeleon",
    "Clefable",
    "Clefairy",
    "Cloyster",
    "Cubone",
    "Dewgong",
    "Diglett",
    "Ditto",
    "Dodrio",
    "Doduo",
    "Dragonair",
    "Dragonite",
    "Dratini",
    "Drowzee",
    "Dugtrio",
    "Eevee",
    "Ekans",
    "Electabuzz",
    "Electrode",
    "Exeggcute",
    "Exeggutor",
    "Farfetchd",
    "Fearow",
    "Flareon",
    "Gastly",
    "Gengar",
    "Geodude",
    "Gloom",
    "Golbat",
    "Goldeen",
    "Golduck",
    "Golem",
    "Graveler",
    "Grimer",
    "Growlithe",
    "Gyarados",
    "Haunter",
    "Hitmonchan",
    "Hitmonlee",
    "Horsea",
    "Hypno",
    "Ivysaur",
    "Jigglypuff",
    "Jolteon",
    "Jynx",
    "Kabuto",
    "Kabutops",
    "Kadabra",
    "Kakuna",
    "Kangaskhan",
    "Kingler",
    "Koffing",
    "Krabby",
    "Lapras",
    "Lickitung",
    "Machamp",
    "Machoke",
    "Machop",
    "Magikarp",
    "Magmar",
    "Magnemite",
    "Magneton",
    "Mankey",
    "Marowak",
    "Meowth",
    "Metapod",
    "Mew",
    "Mewtwo",
    "Moltres",
    "MrMime",
    "Muk",
    "Nidoking",
    "Nidoqueen",
    "Nidorina",
    "Nidorino",
    "Ninetales",
    "Oddish",
    "Omanyte",
    "Omastar",
    "Onix",
    "Paras",
    "Parasect",
    "Persian",
    "Pidgeot",
    "Pidgeotto",
    "Pidgey",
    "Pikachu",
    "Pinsir",
    "Poliwag",
    "Poliwhirl",
    "Poliwrath",
    "Ponyta",
    "Porygon",
    "Primeape",
    "Psyduck",
    "Raichu",
    "Rapidash",
    "Raticate",
    "Rattata",
    "Rhydon",
    "Rhyhorn",
    "Sandshrew",
    "Sandslash",
    "Scyther",
    "Seadra",
    "Seaking",
    "Seel",
    "Shellder",
    "Slowbro",
    "Slowpoke",
    "Snorlax",
    "Spearow",
    "Squirtle",
    "Starmie",
    "Staryu",
    "Tangela",
    "Tauros",
    "Tentacool",
    "Tentacruel",
    "Vaporeon",
    "Venomoth",
    "Venonat",
    "Venusaur",
    "Victreebel",
    "Vileplume",
    "Voltorb",
    "Vulpix",
    "Wartortle",
    "Weedle",
    "Weepinbell",
    "Weezing",
    "Wigglytuff",
    "Zapdos",
    "Zubat",
)
INDEX = {name.lower(): i for i, name in enumerate(CLASSES)}


def find(root: Path, _request: Request) -> Path:
    for folder in (root / "pokemon150" / "PokemonData", root / "PokemonData", root / "pokemon150", root):
        if folder.is_dir() and sum(1 for d in class_folders(folder) if d.name.lower() in INDEX) >= len(CLASSES) // 2:
            return folder
    raise MissingData(
        f"Pokemon images not found under {root}",
        f"put the class folders (PokemonData/Abra/, ...) of Kaggle {KAGGLE} in {root / 'pokemon150'}, "
        "or run online with Kaggle access",
    )


def decode(folder: Path, request: Request) -> TaskData:
    size = request.image_size or 224
    files = [
        (p, INDEX[d.name.lower()]) for d in class_folders(folder) if d.name.lower() in INDEX for p in image_files(d)
    ]
    images, labels, skipped = decode_labelled(files, size, CLASSES, folder)
    rest, test = stratified(labels, TEST_FRACTION)
    train_part, val_part = stratified(labels[rest], VAL_FRACTION, seed=VAL_SEED)
    train, val = rest[train_part], rest[val_part]
    return TaskData(
        Split(images[train], labels[train]),
        Split(images[val], labels[val]),
        Split(images[test], labels[test]),
        source=f"PokemonData layout in {folder}, {size} px",
        skipped=tuple(skipped),
    )


POKEMON150 = register_task(
    DatasetSpec(
        name="pokemon150",
        kind="classification",
        input_shape=(3, 224, 224),
        classes=CLASSES,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),  # ImageNet statistics (chosen)
        find=find,
        decode=decode,
        resizable=True,
        augment="pokemon",
        split_seeds=(SPLIT_SEED, VAL_SEED),  # test, then validation
        download=kaggle_download(KAGGLE, "pokemon150"),
        description="150 Pokemon classes, about 6,800 images, resized (default 224 px, as uni2022), 72/8/20 split",
    )
)
