"""The floor for framework overhead: the demo MMAR's training written by hand with PyTorch + MONAI.

Everything mmar_hydra/demo/sample_mmar/config/config_train.json asks for: the same network,
loss, optimizer, scheduler, transforms, CacheDataset, batch size, train key metric (Accuracy),
validation (sliding window, post transforms, mean Dice + Accuracy) and handlers (loss per step
and metrics per epoch to TensorBoard, the best model as model.pt, final_model.pt at the end).
Usage: python plain_loop.py MMAR_ROOT EPOCHS OUT_JSON [START_TIME]
"""

from __future__ import annotations

import json
import sys
import time

START = float(sys.argv[4]) if len(sys.argv) > 4 else time.time()

import torch  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from monai import transforms as T  # noqa: E402
from monai.data import CacheDataset, DataLoader, decollate_batch, load_decathlon_datalist  # noqa: E402
from monai.inferers import SlidingWindowInferer  # noqa: E402
from monai.losses import DiceCELoss  # noqa: E402
from monai.metrics import DiceMetric  # noqa: E402
from monai.networks.nets import UNet  # noqa: E402
from monai.utils import set_determinism  # noqa: E402


def main(root: str, epochs: int, out: str) -> None:
    set_determinism(seed=0)
    keys = ["image", "label"]
    deterministic = [
        T.LoadImaged(keys=keys), T.EnsureChannelFirstd(keys=keys),
        T.Orientationd(keys=keys, axcodes="RAS"),
        T.Spacingd(keys=keys, pixdim=[1.5, 1.5, 2.0], mode=["bilinear", "nearest"]),
        T.ScaleIntensityRanged(keys="image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        T.CropForegroundd(keys=keys, source_key="image", allow_smaller=True),
    ]
    train_tf = T.Compose([*deterministic,
        T.RandCropByPosNegLabeld(keys=keys, label_key="label", spatial_size=[48, 48, 32], pos=1, neg=1,
                                 num_samples=2, image_key="image", image_threshold=0),
        T.RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5), T.EnsureTyped(keys=keys)])
    val_tf = T.Compose([*deterministic, T.EnsureTyped(keys=keys)])
    post = T.Compose([T.Activationsd(keys="pred", softmax=True),
                      T.AsDiscreted(keys=["pred", "label"], argmax=[True, False], to_onehot=2)])
    datalist = f"{root}/data/dataset.json"
    train_ds = CacheDataset(load_decathlon_datalist(datalist, True, "training", f"{root}/data"),
                            transform=train_tf, cache_rate=1.0, num_workers=2, progress=False)
    val_ds = CacheDataset(load_decathlon_datalist(datalist, True, "validation", f"{root}/data"),
                          transform=val_tf, cache_rate=1.0, num_workers=2, progress=False)
    train_loader = DataLoader(train_ds, batch_size=2, shuffle=True, num_workers=0)
    val_loader = DataLoader(val_ds, batch_size=1, shuffle=False, num_workers=0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=[8, 16, 32, 64],
               strides=[2, 2, 2], num_res_units=1, norm="batch")
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    inferer = SlidingWindowInferer(roi_size=[48, 48, 32], sw_batch_size=4, overlap=0.25)
    dice = DiceMetric(include_background=False, reduction="mean")
    out_dir = f"{root}/models_plain"
    writer = SummaryWriter(out_dir)
    best = -1.0
    iter_times, data_times, epoch_times, val_times, first_iter = [], [], [], [], None
    accuracy: list[float] = []
    for _epoch in range(epochs):
        t_epoch = time.perf_counter()
        net.train()
        t_data = time.perf_counter()
        for batch in train_loader:
            t0 = time.perf_counter()
            data_times.append(t0 - t_data)
            opt.zero_grad()
            pred = net(batch["image"])
            loss = loss_fn(pred, batch["label"])
            loss.backward()
            opt.step()
            writer.add_scalar("train_loss", loss.item(), len(iter_times))
            # the config's train key_metric: Accuracy on post-transformed predictions, every step
            items = [post(i) for i in decollate_batch({"pred": pred.detach(), "label": batch["label"]})]
            accuracy.extend(float((i["pred"] == i["label"]).float().mean()) for i in items)
            t1 = time.perf_counter()
            iter_times.append(t1 - t0)
            if first_iter is None:
                first_iter = time.time() - START
            t_data = time.perf_counter()
        sched.step()
        t_val = time.perf_counter()
        net.eval()
        val_acc: list[float] = []
        with torch.no_grad():
            for batch in val_loader:
                batch["pred"] = inferer(batch["image"], net)
                items = [post(i) for i in decollate_batch(batch)]
                dice(y_pred=[i["pred"] for i in items], y=[i["label"] for i in items])
                val_acc.extend(float((i["pred"] == i["label"]).float().mean()) for i in items)
        mean_dice = float(dice.aggregate())
        dice.reset()
        writer.add_scalar("val_mean_dice", mean_dice, _epoch)
        writer.add_scalar("val_acc", sum(val_acc) / len(val_acc), _epoch)
        writer.add_scalar("train_acc", sum(accuracy) / len(accuracy), _epoch)
        writer.add_scalar("lr", opt.param_groups[0]["lr"], _epoch)
        accuracy.clear()
        val_times.append(time.perf_counter() - t_val)
        if mean_dice > best:
            best = mean_dice
            torch.save({"model": net.state_dict()}, f"{out_dir}/model.pt")
        epoch_times.append(time.perf_counter() - t_epoch)
    torch.save({"model": net.state_dict()}, f"{out_dir}/final_model.pt")
    writer.close()
    json.dump({"iter_times": iter_times, "data_times": data_times, "epoch_times": epoch_times,
               "val_times": val_times, "first_iter_s": first_iter, "best_dice": best,
               "total_s": time.time() - START}, open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
