-- A results store written by harness at da5779a (schema 4): two sweeps of the default digits task,
-- three trials, one verified export. Loaded by tests/test_hostile_store.py to test the upgrade.
-- Made with: harness sweep --arch mlp --optimizer adam --lr 0.01,0.03 --epochs 2; then
--            harness sweep --arch mlp --optimizer sgd --lr 0.01 --epochs 1 --no-export
BEGIN TRANSACTION;
CREATE TABLE epochs (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    epoch INTEGER NOT NULL,            -- 1-based
    train_loss REAL, train_acc REAL, val_loss REAL, val_acc REAL,
    epoch_time_s REAL,                 -- training only, seconds
    eval_time_s REAL,                  -- validation pass, seconds
    samples_per_s REAL,                -- training images per second
    extra_json TEXT,                   -- the task's own scores, e.g. {"val_psnr": ...} for upsampling
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, epoch)
);
INSERT INTO "epochs" VALUES('95ad4_00000',1,7.72156271761838430833e-01,7.6880222841225631658e-01,2.57013589143753051757e-01,9.1388888888888886175e-01,1.26947749999999359715e-02,6.60713999877771129831e-04,84838.053451125,NULL,'2026-11-29T20:22:27+00:00');
INSERT INTO "epochs" VALUES('95ad4_00001',1,0.83019435815271,0.713091922005571,3.20212483406066894531e-01,9.1111111111111109384e-01,1.43840990003809565678e-02,5.26534000073297647759e-04,7.48743456209162686716e+04,NULL,'2026-11-29T20:22:27+00:00');
INSERT INTO "epochs" VALUES('95ad4_00000',2,1.56189262368884917986e-01,9.46146703806870936759e-01,1.81976333260536193847e-01,9.63888888888888906159e-01,1.55579769998439587652e-02,4.64852000277460319921e-04,6.9224938435813470278e+04,NULL,'2026-11-29T20:22:27+00:00');
INSERT INTO "epochs" VALUES('95ad4_00001',2,1.62029014877843546837e-01,0.947075208913649,2.56206244230270385742e-01,9.36111111111111116045e-01,1.88757149999219109304e-02,4.62648999928205739706e-04,5.7057441268023787414e+04,NULL,'2026-11-29T20:22:27+00:00');
INSERT INTO "epochs" VALUES('9f813_00000',1,2.30715610854805,8.17084493964716773728e-02,2.21486401557922363281e+00,1.97222222222222215437e-01,1.01006240001879632472e-02,6.03527999828656902536e-04,1.06627075711357829272e+05,NULL,'2026-11-29T20:22:44+00:00');
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL REFERENCES trials(id),
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,              -- exported (not yet verified) | verified | failed
    quantize TEXT,                     -- NULL for the float32 file, "int8" for its quantized sibling
    opset INTEGER, ir_version INTEGER,
    provider TEXT,                     -- onnxruntime execution provider actually used
    max_abs_diff REAL, top1_agreement REAL,
    torch_metric REAL, ort_metric REAL,
    details_json TEXT
);
INSERT INTO "exports" VALUES(1,'95ad4_00000','/tmp/s4/onnx/digits-mlp-95ad4_00000.onnx','2026-11-29T20:22:32+00:00','verified',NULL,18,10,'CPUExecutionProvider',1.33514404296875e-05,1.0,9.47222222222222187681e-01,9.47222222222222187681e-01,'{"gate": "logits", "latency": {"device": "cpu", "onnxruntime_b1_p50_ms": 0.0071755000590201234, "onnxruntime_b1_p95_ms": 0.008567550366933572, "onnxruntime_b64_images_per_s": 2182959.267606546, "speedup_b1": 2.5709009292455147, "speedup_b64": 1.5059349120326477, "threads": 2, "torch_b1_p50_ms": 0.01844749976953608, "torch_b1_p95_ms": 0.019652550031423743, "torch_b64_images_per_s": 1449570.7949688737}, "max_abs_diff": 1.33514404296875e-05, "n": 360, "ort_metric": 0.9472222222222222, "ort_psnr": null, "passed": true, "path": "/tmp/s4/onnx/digits-mlp-95ad4_00000.onnx", "provider": "CPUExecutionProvider", "quantize": null, "requested": "CPUExecutionProvider", "rule": "top-1 agreement >= 99.9%, max abs difference <= 0.001", "size_ratio": null, "task": "digits", "top1_agreement": 1.0, "torch_metric": 0.9472222222222222, "torch_psnr": null}');
CREATE TABLE sweeps (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,              -- running | finished | interrupted | failed
    created_at TEXT NOT NULL,
    finished_at TEXT,
    seed INTEGER NOT NULL,
    command TEXT NOT NULL,             -- the command line that started it
    spec_json TEXT NOT NULL,           -- the validated SweepSpec
    environment_json TEXT NOT NULL     -- versions, CPU, GPU: what makes numbers comparable
);
INSERT INTO "sweeps" VALUES('20261129-202222-90b4','digits','finished','2026-11-29T20:22:22+00:00','2026-11-29T20:22:27+00:00',0,'harness sweep --arch mlp --optimizer adam --lr 0.01,0.03 --epochs 2 --results /tmp/s4 --no-live','{"address": null, "archs": ["mlp"], "augment": null, "batch_sizes": [64], "cpus_per_trial": null, "data_dir": "/root/.cache/harness/data", "epochs": 2, "gpus_per_trial": null, "image_size": null, "lr_range": null, "lrs": [0.01, 0.03], "max_concurrent": null, "num_samples": 1, "optimizers": ["adam"], "pixels": null, "scheduler": "fifo", "search": "grid", "seeds": [0], "storage": "/tmp/s4/ray", "task": "digits", "time_budget_s": null, "train_limit": null, "variant": "default", "weight_decays": [0.0]}','{"command": "harness sweep --arch mlp --optimizer adam --lr 0.01,0.03 --epochs 2 --results /tmp/s4 --no-live", "cpu": "AMD EPYC", "cpu_count": 2, "data": {"bytes": 129384, "counts": {"test": 360, "train": 1077, "val": 360}, "folder": "/tmp/s4cache/digits-default-a0ba9debf7", "image_size": null, "skipped": 0, "skipped_first": [], "source": "bundled with scikit-learn (sklearn.datasets.load_digits)", "variant": "default"}, "gpu": null, "harness": "0.1.0", "onnx": "1.23.2", "onnxruntime": "1.31.1", "platform": "Linux-6.18.44-fc-v669-x86_64-with-glibc2.36", "python": "3.11.7", "ray": "2.60.0", "ray_nodes": 1, "seed": 0, "torch": "2.14.1+cu130"}');
INSERT INTO "sweeps" VALUES('20261129-202239-abc7','digits','finished','2026-11-29T20:22:39+00:00','2026-11-29T20:22:44+00:00',0,'harness sweep --arch mlp --optimizer sgd --lr 0.01 --epochs 1 --no-export --results /tmp/s4 --no-live','{"address": null, "archs": ["mlp"], "augment": null, "batch_sizes": [64], "cpus_per_trial": null, "data_dir": "/root/.cache/harness/data", "epochs": 1, "gpus_per_trial": null, "image_size": null, "lr_range": null, "lrs": [0.01], "max_concurrent": null, "num_samples": 1, "optimizers": ["sgd"], "pixels": null, "scheduler": "fifo", "search": "grid", "seeds": [0], "storage": "/tmp/s4/ray", "task": "digits", "time_budget_s": null, "train_limit": null, "variant": "default", "weight_decays": [0.0]}','{"command": "harness sweep --arch mlp --optimizer sgd --lr 0.01 --epochs 1 --no-export --results /tmp/s4 --no-live", "cpu": "AMD EPYC", "cpu_count": 2, "data": {"bytes": 129384, "counts": {"test": 360, "train": 1077, "val": 360}, "folder": "/tmp/s4cache/digits-default-a0ba9debf7", "image_size": null, "skipped": 0, "skipped_first": [], "source": "bundled with scikit-learn (sklearn.datasets.load_digits)", "variant": "default"}, "gpu": null, "harness": "0.1.0", "onnx": "1.23.2", "onnxruntime": "1.31.1", "platform": "Linux-6.18.44-fc-v669-x86_64-with-glibc2.36", "python": "3.11.7", "ray": "2.60.0", "ray_nodes": 1, "seed": 0, "torch": "2.14.1+cu130"}');
CREATE TABLE trials (
    id TEXT PRIMARY KEY,               -- Ray Tune's trial id
    sweep_id TEXT NOT NULL REFERENCES sweeps(id),
    task TEXT NOT NULL,
    arch TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    lr REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    epochs INTEGER NOT NULL,           -- planned; the epochs table holds those run
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,              -- running | finished | diverged | error | interrupted
    error TEXT,
    params INTEGER,
    node TEXT,                         -- the Ray node it ran on: IP/node-id prefix
    checkpoint_path TEXT,              -- best checkpoint so far (directory)
    config_json TEXT,                  -- the whole trial config (weight decay, split, size, ...)
    best_epoch INTEGER,                -- the epoch of the best checkpoint
    test_json TEXT,                    -- that checkpoint on the test split: scores, confusion matrix
    started_at TEXT NOT NULL,
    ended_at TEXT
);
INSERT INTO "trials" VALUES('95ad4_00001','20261129-202222-90b4','digits','mlp','adam',0.03,64,2,0,'finished',NULL,19210,'192.0.2.2/0a255203','/tmp/s4/ray/20261129-202222-90b4/run_trial_95ad4_00001_1_arch=mlp,batch_size=64,lr=0.0300,optimizer=adam,seed=0,weight_decay=0.0000_2026-11-29_20-22-22/checkpoint_000001','{"arch": "mlp", "augment": null, "batch_size": 64, "data_dir": "/root/.cache/harness/data", "epochs": 2, "image_size": null, "lr": 0.03, "optimizer": "adam", "pixels": null, "seed": 0, "task": "digits", "train_limit": null, "variant": "default", "weight_decay": 0.0}',2,'{"epoch": 2, "loss": 0.2369125336408615, "acc": 0.9444444444444444, "confusion": [[35, 0, 0, 0, 1, 0, 0, 0, 0, 0], [0, 36, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 31, 1, 0, 0, 0, 0, 2, 0], [0, 0, 0, 33, 0, 0, 0, 0, 4, 0], [0, 2, 0, 0, 32, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 35, 0, 0, 2, 0], [0, 1, 0, 0, 0, 0, 34, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 36, 0, 0], [0, 2, 0, 0, 0, 0, 0, 0, 33, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 35]], "time_s": 0.0006748449995939154}','2026-11-29T20:22:25+00:00','2026-11-29T20:22:27+00:00');
INSERT INTO "trials" VALUES('95ad4_00000','20261129-202222-90b4','digits','mlp','adam',0.01,64,2,0,'finished',NULL,19210,'192.0.2.2/0a255203','/tmp/s4/ray/20261129-202222-90b4/run_trial_95ad4_00000_0_arch=mlp,batch_size=64,lr=0.0100,optimizer=adam,seed=0,weight_decay=0.0000_2026-11-29_20-22-22/checkpoint_000001','{"arch": "mlp", "augment": null, "batch_size": 64, "data_dir": "/root/.cache/harness/data", "epochs": 2, "image_size": null, "lr": 0.01, "optimizer": "adam", "pixels": null, "seed": 0, "task": "digits", "train_limit": null, "variant": "default", "weight_decay": 0.0}',2,'{"epoch": 2, "loss": 0.20308001339435577, "acc": 0.9472222222222222, "confusion": [[33, 0, 0, 0, 2, 1, 0, 0, 0, 0], [0, 34, 0, 0, 0, 0, 1, 0, 1, 0], [0, 1, 34, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 35, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 34, 0, 0, 0, 2, 0], [0, 0, 0, 1, 0, 36, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 35, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 36, 0, 0], [0, 2, 0, 0, 0, 1, 0, 0, 32, 0], [0, 1, 0, 0, 0, 1, 0, 0, 2, 32]], "time_s": 0.0007529409999733616}','2026-11-29T20:22:25+00:00','2026-11-29T20:22:27+00:00');
INSERT INTO "trials" VALUES('9f813_00000','20261129-202239-abc7','digits','mlp','sgd',0.01,64,1,0,'finished',NULL,19210,'192.0.2.2/1353c3e6','/tmp/s4/ray/20261129-202239-abc7/run_trial_9f813_00000_0_arch=mlp,batch_size=64,lr=0.0100,optimizer=sgd,seed=0,weight_decay=0.0000_2026-11-29_20-22-39/checkpoint_000000','{"arch": "mlp", "augment": null, "batch_size": 64, "data_dir": "/root/.cache/harness/data", "epochs": 1, "image_size": null, "lr": 0.01, "optimizer": "sgd", "pixels": null, "seed": 0, "task": "digits", "train_limit": null, "variant": "default", "weight_decay": 0.0}',1,'{"epoch": 1, "loss": 2.2143337726593018, "acc": 0.21666666666666667, "confusion": [[2, 3, 3, 0, 0, 0, 0, 0, 0, 28], [0, 9, 0, 0, 12, 0, 15, 0, 0, 0], [0, 8, 0, 0, 4, 0, 12, 0, 1, 10], [0, 11, 1, 0, 2, 0, 6, 0, 1, 16], [4, 4, 1, 0, 25, 0, 1, 0, 0, 1], [0, 2, 5, 0, 10, 7, 7, 0, 2, 4], [0, 0, 7, 0, 3, 5, 20, 0, 0, 1], [11, 6, 1, 0, 9, 0, 2, 0, 0, 7], [2, 2, 6, 0, 13, 0, 4, 0, 0, 8], [1, 15, 0, 0, 1, 1, 2, 0, 1, 15]], "time_s": 0.0007313090000025113}','2026-11-29T20:22:42+00:00','2026-11-29T20:22:44+00:00');
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('exports',1);
COMMIT;
