"""Where each value of a recipe's configuration comes from: the report's text (`report`, with
where it says so and a short exact quote of it) or a choice made here (`chosen`, with why).

The values themselves are read from the recipe (harness.config.presets), so a mark cannot drift
from what runs; a setting the harness has no field for (dropout inside a network, Keras's
steps_per_epoch) or a field the recipe leaves to the task's default carries its value here.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.presets import get_preset
from harness.report.document import MarkRow

Value = str | int | float | None

# The settings every recipe marks; dropout and steps_per_epoch only where the network or the
# framework has them, and a few details (a network's widths, a rotation's degrees) where chosen.
SETTINGS = ("arch", "optimizer", "lr", "batch_size", "epochs", "image_size", "augment", "pixels", "split", "framework")
# setting -> how a recipe's SweepSpec holds it (its first value: a recipe is one trial)
_FROM_SPEC = {
    "arch": lambda s: s.archs[0],
    "optimizer": lambda s: s.optimizers[0],
    "lr": lambda s: s.lrs[0],
    "batch_size": lambda s: s.batch_sizes[0],
    "epochs": lambda s: s.epochs,
    "image_size": lambda s: s.image_size,
    "augment": lambda s: s.augment,
    "pixels": lambda s: s.pixels,
    "split": lambda s: s.variant,
    "framework": lambda s: s.framework,
}


@dataclass(frozen=True)
class Mark:
    source: str  # "report" or "chosen"
    where: str = ""  # report: where the text states it
    quote: str = ""  # report: an exact, short substring of the text that states it
    why: str = ""  # chosen: why this value
    value: Value = None  # only where the recipe's spec does not hold it


def stated(where: str, quote: str, value: Value = None) -> Mark:
    return Mark("report", where=where, quote=quote, value=value)


def chosen(why: str, value: Value = None) -> Mark:
    return Mark("chosen", why=why, value=value)


@dataclass(frozen=True)
class RecipeValue:
    setting: str
    value: Value
    mark: Mark

    @property
    def source(self) -> str:
        return self.mark.source

    def row(self) -> MarkRow:
        return {
            "setting": self.setting,
            "value": self.value,
            "source": self.mark.source,
            "where": self.mark.where or self.mark.why,
        }


def recipe_marks(report: str, label: str) -> list[RecipeValue]:
    """Every marked setting of recipe `label` of `report`, SETTINGS first, in their order."""
    recipe = next(r for r in get_preset(report).recipes if r.label == label)
    marks = MARKS[(report, label)]
    out = []
    for setting, mark in sorted(marks.items(), key=lambda m: _order(m[0])):
        ours = _FROM_SPEC[setting](recipe.spec) if setting in _FROM_SPEC else None
        out.append(RecipeValue(setting, mark.value if ours is None else ours, mark))
    return out


def _order(setting: str) -> int:
    return SETTINGS.index(setting) if setting in SETTINGS else len(SETTINGS)


# --- the marks, per recipe -----------------------------------------------------------------
_NOT_STATED = "not stated in the text"
_KERAS_LR = f"{_NOT_STATED}; Keras's Adam default (the compile call is not printed)"
_UNI: dict[str, Mark] = {
    "arch": stated("2 Resultados, 'Creación del modelo' listing", "nn.Linear(1600,512),"),
    "optimizer": stated("2 Resultados, training cell", "optim = torch.optim.SGD(model.parameters(),lr=0.1)"),
    "lr": stated("2 Resultados, training cell", "optim = torch.optim.SGD(model.parameters(),lr=0.1)"),
    "batch_size": stated("2 Resultados, the dataloaders", "batch_size=128, shuffle=True"),
    "epochs": stated("2 Resultados, training cell", "epochs=20)"),
    "image_size": stated("2 Resultados, img_transform", "torchvision.transforms.Resize((128,128)),"),
    "augment": stated(
        "2 Resultados, img_transform: flip p=0.5 and rotation 10 degrees, on the test set too",
        "torchvision.transforms.RandomRotation(degrees = 10),",
    ),
    "pixels": stated(
        "2 Resultados, img_transform: ToTensor (x/255), no Normalize", "torchvision.transforms.ToTensor(),"
    ),
    "split": stated(
        "1.2 Dataset (chetankv/dogs-cats-images: training_set and test_set)",
        "Hay 4000 imágenes de cada gato y perro para entrenamiento y 1000 imágenes de cada gato y perro para prueba",
    ),
    "framework": stated("1.2 Dataset y Data Augmentation", "torchvision.transforms de Pytorch"),
}


def _uchile(cls: str, net: str) -> dict[str, Mark]:
    adam = f"optimizer = torch.optim.Adam({net}.parameters(), lr=1e-3)"
    training = "2.4.2 Entrenamiento (Código 8)" if net == "net" else "5.2 Entrenamiento de red pequeña (Código 11)"
    return {
        "arch": stated("2.3 Arquitecturas de las Redes", f"class {cls}(nn.Module):"),
        "optimizer": stated(training, adam),
        "lr": stated(training, adam),
        "batch_size": stated("2.4.1 Configuración de Datasets (Código 7)", "batch\\_size = 32"),
        "epochs": stated(training, "epochs = 20"),
        "image_size": stated("1. Introducción: CIFAR-10's own 32x32", "imágenes de 32x32 pixeles", value=32),
        "augment": stated(
            "Código 7: the datasets take no transform",
            "dataset_train = CIFAR10Train('cifar-10-batches-py', scale=False)",
        ),
        "pixels": stated(
            "Código 7: scale=False, the raw 0..255 values",
            "dataset_train = CIFAR10Train('cifar-10-batches-py', scale=False)",
        ),
        "split": stated(
            "2.1: data_batch_1 trains, data_batch_2 validates, test_batch tests",
            "solo usaremos 3 batches: data\\_batch\\_1, data\\_batch\\_2 y test\\_batch",
        ),
        "framework": stated("1. Introducción", "utilizando la librería Pytorch"),
    }


def _itesm(n: int) -> dict[str, Mark]:
    params = {1: "813,217", 2: "831,585", 3: "831,585", 4: "185,473"}[n]
    section = {1: "XI. Primer Approach", 2: "XIII. 2do Modelo", 3: "XIV. Tercer Modelo", 4: "XV. Cuarto Modelo"}[n]
    steps = {1: "100", 2: "8000/32", 3: "20000/32", 4: "20000/32"}[n]
    marks = {
        "arch": stated(f"{section}, the model summary", f"Total params: {params}"),
        "optimizer": chosen(f"{_NOT_STATED} (the compile call is not printed); REPORTS.md's choice"),
        "lr": chosen(_KERAS_LR),
        "batch_size": stated("XIII: the batch size behind steps_per_epoch = 8000/32", "en este caso 32"),
        "epochs": stated(f"{section}, 'Hiperparámetros'", "epochs = 25,"),
        "image_size": stated(
            f"{section}, the model summary: a 3x3 'valid' convolution gives 126x126 from 128x128",
            "(None, 126, 126, 32)",
        ),
        "augment": chosen(
            "the text says only that Keras's ImageDataGenerator augmented the images; shear 0.2, zoom 0.2 and"
            " horizontal flip are REPORTS.md's choice"
        ),
        "pixels": chosen(
            f"{_NOT_STATED}; REPORTS.md's rescale 1/255 (ImageDataGenerator's default is no rescale: 0..255)"
        ),
        "split": stated(
            "IV: dataset A, 8,000 training and 2,000 test photos; model 2 steps through 8000/32 per epoch",
            "steps_per_epoch = 8000/32,",
        ),
        "dropout": chosen("the summary shows a Dropout layer; its rate is not printed: REPORTS.md's 0.5", value=0.5),
        "framework": stated(
            "V. Tecnologías a usar", "La librería a usar para la creación de la red neuronal será Keras"
        ),
        "steps_per_epoch": stated(
            f"{section}, 'Hiperparámetros': Keras fit's steps_per_epoch = {steps}"
            + (" (the harness runs whole passes: 250 steps of 32)" if n == 1 else ", a whole pass"),
            f"steps_per_epoch = {steps},",
            value={1: 100, 2: 250, 3: 625, 4: 625}[n],
        ),
    }
    if n == 1:
        marks["batch_size"] = chosen(
            "not stated for model 1; its evaluation runs 250 steps over 8,000 training images ('250/250'),"
            " as flow_from_directory's default batch of 32 does"
        )
        marks["image_size"] = stated(section, "la cual es de 64x64")
        marks["split"] = stated(
            "XI: model 1's evaluations run 250 and 63 steps of 32: dataset A's 8,000 and 2,000 photos",
            "250/250 [=====] - 16s 66ms/step",
        )
        marks["dropout"] = stated("XI: the model summary has no Dropout layer", "(None, 6272)", value="none")
    if n >= 3:
        marks["split"] = stated(
            "XIV: dataset B, 20,000 training and 5,000 test photos" + (" (model 4: steps_per_epoch = 20000/32)"),
            "se utilizó el dataset completo, que consta de 20,000 imágenes de entrenamiento y 5000 para pruebas"
            if n == 3
            else "steps_per_epoch = 20000/32,",
        )
    return marks


_POKEMON_NOT_STATED = f"{_NOT_STATED} (nor in REPORTS.md): the preset's choice"


def _pokemon(arch: Mark, widths: str) -> dict[str, Mark]:
    return {
        "arch": arch,
        "widths": chosen(f"{_NOT_STATED}; REPORTS.md's choice", value=widths),
        "optimizer": chosen(_POKEMON_NOT_STATED),
        "lr": chosen(_POKEMON_NOT_STATED + " (Adam's default)"),
        "batch_size": chosen(_POKEMON_NOT_STATED),
        "epochs": chosen(_POKEMON_NOT_STATED),
        "image_size": stated("1 Metodología", "con un tamaño de 224x224"),
        "augment": stated(
            "1.1 Data augmentation: random rotation, horizontal and vertical flips (the report grew the set to"
            " 150 images per class with them; the harness augments each batch)",
            "una rotación aleatoria, un Flip horizontal y un Flip vertical",
        ),
        "rotation_deg": chosen(f"{_NOT_STATED}; the preset's choice", value=15),
        "pixels": chosen(f"{_NOT_STATED}; the harness's default, the task's mean/std", value="standard"),
        "split": chosen("the text names no test split; REPORTS.md's 80/20 stratified, seeded", value="80/20"),
        "framework": stated("Resumen", "usando como framework Pytorch"),
    }


_ITAM_CATS: dict[str, Mark] = {
    "arch": stated("Pregunta 1, Listing 1 and its summary", "Total params: 4,828,481"),
    "optimizer": chosen(f"{_NOT_STATED} for this network (the compile call is not printed); the preset's Adam"),
    "lr": chosen(_KERAS_LR),
    "batch_size": stated("Pregunta 1, after the summary", "batch size= 40"),
    "epochs": stated("Pregunta 1, after the summary", "40 épocas"),
    "image_size": stated(
        "Pregunta 1, the summary: a 3x3 'valid' convolution gives 148x148 from 150x150", "(None, 148, 148, 32)"
    ),
    "augment": chosen(f"{_NOT_STATED}; none"),
    "pixels": chosen(f"{_NOT_STATED}; x/255, as Keras's image tutorials"),
    "split": chosen("the text names no dataset or split; the chetankv set's training_set / test_set"),
    "dropout": stated("Pregunta 1, after the summary", "igual a 0.9", value=0.9),
    "framework": stated("Pregunta 1, Listing 1", "CNN = Sequential(["),
}


def _itam_upsampling(n: int) -> dict[str, Mark]:
    params = {1: "Trainable params: 240,993", 2: "Total params: 480,961", 3: "Total params: 185,793"}[n]
    batch = {2: "30", 3: "15"}.get(n)
    common: dict[str, Mark] = {
        "arch": stated(f"Pregunta 5, Modelo {n}'s summary", params),
        "lr": chosen(_KERAS_LR),
        "image_size": stated(
            "Pregunta 3, Listing 4: the input is the target resized to 7x7; the output 28x28",
            "img = resize(IMG.copy(), (7, 7))",
            value="7 -> 28",
        ),
        "augment": chosen(f"{_NOT_STATED}; none (a_function's noise is the task's input, not an augmentation)"),
        "pixels": chosen(
            "the target is MNIST 'tal y como se encuentran' and its scaling cell is not printed; REPORTS.md's"
            " [0,1] (skimage's resize gives the input in [0,1])",
            value="[0,1]",
        ),
        "split": stated(
            "Pregunta 2, Listing 3: MNIST's train and test images",
            "x_test = np.array([a_function(IMG) for IMG in y_test])",
            value="MNIST train / test",
        ),
        "framework": stated("Pregunta 5, the Keras model summaries", "up_sampling2d_62 (UpSampling"),
    }
    if n == 1:
        return {
            **common,
            "optimizer": chosen("not printed for model 1; models 2 and 3 print Adam"),
            "batch_size": chosen("not printed for model 1; Keras fit's default batch_size"),
            "epochs": chosen("not printed for model 1; models 2 and 3 print 10"),
        }
    return {
        **common,
        "optimizer": stated(f"Pregunta 5, Modelo {n}", "Optimizador: Adam"),
        "batch_size": stated(f"Pregunta 5, Modelo {n}", f"Batch size: {batch}"),
        "epochs": stated(f"Pregunta 5, Modelo {n}", "Epocas: 10"),
    }


MARKS: dict[tuple[str, str], dict[str, Mark]] = {
    ("uni2022-catsdogs", "CNN + MLP, epoch 20"): _UNI,
    ("uchile2020-cifar10", "Red Grande"): _uchile("MyNetBig", "net"),
    ("uchile2020-cifar10", "Red Pequena"): _uchile("MyNetSmall", "net_s"),
    ("itesm2022-catsdogs", "model 1 (64 px, split A)"): _itesm(1),
    ("itesm2022-catsdogs", "model 2 (split A)"): _itesm(2),
    ("itesm2022-catsdogs", "model 3 (split B)"): _itesm(3),
    ("itesm2022-catsdogs", "model 4 (split B)"): _itesm(4),
    ("uni2022-pokemon", "CNN"): _pokemon(
        stated("1.2 Modelo CNN: 5 layers of conv, BatchNorm, ReLU, MaxPool", "Este modelo esta conformado por 5 capas"),
        "32, 64, 128, 256, 512",
    ),
    ("uni2022-pokemon", "ResNet"): _pokemon(
        stated("1.3 Modelo ResNet: 4 residual layers", "Este modelo esta conformado por 4 capas de redes residuales"),
        "64, 128, 256, 512",
    ),
    ("itam2020-catsdogs-mnist", "cats vs dogs, 150 px"): _ITAM_CATS,
    ("itam2020-catsdogs-mnist", "upsampling model 1"): _itam_upsampling(1),
    ("itam2020-catsdogs-mnist", "upsampling model 2"): _itam_upsampling(2),
    ("itam2020-catsdogs-mnist", "upsampling model 3"): _itam_upsampling(3),
}
