"""nnU-Net v2 at a wall-clock budget: the reference side of ``benchmarks/seg_hippocampus.py``.

Run by that script in a subprocess (nnU-Net reads its three folders from the environment when it is
imported), on a raw dataset written by :func:`theraflow.imaging.nnunet_export.export_nnunet`:

1. nnU-Net's own fingerprint, plan (default ``ExperimentPlanner``) and preprocessing, ``3d_fullres``;
2. theraflow's split copied in as ``splits_final.json`` (fold 0 = the 160 / 40 cases);
3. training on the CPU with :class:`nnUNetTrainerBudget`, nnU-Net's trainer with two changes only:
   ``--iterations`` iterations per epoch (250 in nnU-Net) and ``--val-iterations`` pseudo-Dice batches
   (50), and a stop at ``--minutes`` of wall clock; after the first epoch the number of epochs is set to
   what the budget holds, so the poly learning-rate schedule ends when the budget does (nnU-Net: 1,000
   epochs). Everything else (network, patch, batch, sampling, augmentation, loss, deep supervision,
   SGD + Nesterov) is nnU-Net's;
4. nnU-Net's own inference on the validation cases (``perform_actual_validation``: sliding window,
   Gaussian blending, mirroring) with the last epoch's weights, into ``fold_0/validation``.

Writes ``--report`` (JSON): the plan (network, patch, batch, spacing), the trainer's settings, seconds
spent planning / training / predicting, and the learning curve — per epoch the end time in training
minutes, the training loss and nnU-Net's pseudo Dice (on validation patches; the benchmark's own Dice
on whole scans comes from theraflow code afterwards). Nothing is read back with ``torch.load``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def make_trainer_class(minutes: float, iterations: int, val_iterations: int):
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class nnUNetTrainerBudget(nnUNetTrainer):
        """nnU-Net's trainer, shortened epochs, stopped at a wall-clock budget (see the module docstring)."""

        def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cpu")):
            super().__init__(plans, configuration, fold, dataset_json, device)
            self.num_iterations_per_epoch = iterations
            self.num_val_iterations_per_epoch = val_iterations
            self.budget_seconds = 60.0 * minutes
            self.save_every = 10 ** 9  # checkpoint_best/final only: no periodic checkpoint time in the budget

        def run_training(self):
            # nnU-Net's loop (nnUNetTrainer.run_training) with a clock: it stops before an epoch that would
            # end past the budget, and it fits the poly schedule to the epochs the budget holds.
            self.on_train_start()
            t0 = time.monotonic()
            for epoch in range(self.current_epoch, self.num_epochs):
                elapsed = time.monotonic() - t0
                if epoch > 0:
                    per_epoch = elapsed / epoch
                    fits = max(epoch, int(self.budget_seconds / per_epoch))
                    self.num_epochs = min(self.num_epochs, fits)
                    self.lr_scheduler.max_steps = self.num_epochs
                    if epoch >= self.num_epochs or elapsed + per_epoch > self.budget_seconds * 1.02:
                        break
                self.on_epoch_start()
                self.on_train_epoch_start()
                outputs = [self.train_step(next(self.dataloader_train)) for _ in range(self.num_iterations_per_epoch)]
                self.on_train_epoch_end(outputs)
                with torch.no_grad():
                    self.on_validation_epoch_start()
                    val = [self.validation_step(next(self.dataloader_val))
                           for _ in range(self.num_val_iterations_per_epoch)]
                    self.on_validation_epoch_end(val)
                self.on_epoch_end()
            self.train_seconds = time.monotonic() - t0
            self.on_train_end()

    return nnUNetTrainerBudget


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", required=True, help="nnUNet_raw (holds the exported DatasetNNN_Name)")
    ap.add_argument("--work", required=True, help="folder for nnUNet_preprocessed and nnUNet_results")
    ap.add_argument("--dataset-id", type=int, required=True)
    ap.add_argument("--minutes", type=float, required=True, help="training budget (wall clock)")
    ap.add_argument("--iterations", type=int, default=50, help="training iterations per epoch (nnU-Net: 250)")
    ap.add_argument("--val-iterations", type=int, default=10, help="pseudo-Dice batches per epoch (nnU-Net: 50)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--report", required=True)
    args = ap.parse_args(argv)

    work = Path(args.work)
    os.environ["nnUNet_raw"] = str(Path(args.raw).resolve())
    os.environ["nnUNet_preprocessed"] = str((work / "preprocessed").resolve())
    os.environ["nnUNet_results"] = str((work / "results").resolve())
    os.environ.setdefault("nnUNet_n_proc_DA", str(max(1, args.threads - 1)))
    os.environ.setdefault("nnUNet_compile", "false")
    import torch

    torch.set_num_threads(args.threads)
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    name = convert_id_to_dataset_name(args.dataset_id)
    t0 = time.monotonic()
    extract_fingerprints([args.dataset_id], num_processes=args.threads, check_dataset_integrity=True)
    plans_id = plan_experiments([args.dataset_id])
    preprocess([args.dataset_id], plans_id, configurations=("3d_fullres",), num_processes=(args.threads,))
    pre = work / "preprocessed" / name
    shutil.copyfile(Path(args.raw) / name / "splits_final.json", pre / "splits_final.json")
    plan_seconds = time.monotonic() - t0

    plans = load_json(pre / f"{plans_id}.json")
    dataset_json = load_json(pre / "dataset.json")
    trainer_cls = make_trainer_class(args.minutes, args.iterations, args.val_iterations)
    plans["continue_training"] = False  # what nnunetv2's run_training sets (a fresh run; 2.8 requires the key)
    trainer = trainer_cls(plans, "3d_fullres", 0, dataset_json, device=torch.device("cpu"))
    trainer.run_training()
    t1 = time.monotonic()
    trainer.perform_actual_validation(save_probabilities=False)
    predict_seconds = time.monotonic() - t1

    log = getattr(trainer.logger, "local_logger", trainer.logger).my_fantastic_logging  # MetaLogger since 2.6
    start = log["epoch_start_timestamps"][0]
    curve = [{"epoch": i, "minutes": (end - start) / 60.0, "train_loss": float(log["train_losses"][i]),
              "pseudo_dice": float(log["mean_fg_dice"][i]), "ema_pseudo_dice": float(log["ema_fg_dice"][i])}
             for i, end in enumerate(log["epoch_end_timestamps"])]
    cfg = plans["configurations"]["3d_fullres"]
    report = {
        "nnunetv2": _version("nnunetv2"),
        "dataset": name, "plans": plans_id, "configuration": "3d_fullres", "device": "cpu",
        "torch_threads": torch.get_num_threads(), "processes_for_augmentation": int(os.environ["nnUNet_n_proc_DA"]),
        "plan": {"network": cfg.get("network_arch_class_name") or cfg.get("architecture", {}).get("network_class_name"),
                 "patch_size": cfg["patch_size"], "batch_size": cfg["batch_size"], "spacing": cfg["spacing"],
                 "features_per_stage": cfg.get("architecture", {}).get("arch_kwargs", {}).get("features_per_stage")},
        "trainer": {"class": trainer_cls.__name__, "based_on": "nnUNetTrainer",
                    "iterations_per_epoch": args.iterations, "val_iterations_per_epoch": args.val_iterations,
                    "epochs_run": len(curve), "epochs_planned_for_budget": trainer.num_epochs,
                    "budget_minutes": args.minutes, "weights": "last epoch (checkpoint_final)"},
        "seconds": {"plan_and_preprocess": plan_seconds, "train": trainer.train_seconds, "predict": predict_seconds},
        "validation_folder": str(Path(trainer.output_folder) / "validation"),
        "curve": curve,
    }
    Path(args.report).write_text(json.dumps(report, indent=1))
    print(f"nnU-Net: {len(curve)} epochs of {args.iterations} iterations in {trainer.train_seconds / 60:.1f} min; "
          f"validation predictions in {report['validation_folder']}", flush=True)
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    sys.exit(main())
