"""A minimal DDP training loop that runs on CPU (gloo) or GPU (nccl); prints one stable line per rank:
    ddp rank=R world=W host=H loss=L ok=True
"""
import argparse
import os
import socket

import torch
import torch.distributed as dist

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=10)
args = parser.parse_args()

backend = "nccl" if torch.cuda.is_available() else "gloo"
dist.init_process_group(backend)
rank, world = dist.get_rank(), dist.get_world_size()
device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if backend == "nccl" else torch.device("cpu")
torch.manual_seed(0)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(10, 1).to(device))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for _ in range(args.steps):
    x = torch.randn(32, 10, device=device)
    loss = ((model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
# every rank must hold the same weights after DDP's all-reduce
weights = torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()
gathered = [torch.zeros_like(weights) for _ in range(world)]
dist.all_gather(gathered, weights)
ok = all(torch.allclose(g, weights) for g in gathered)
print(f"ddp rank={rank} world={world} host={socket.gethostname()} loss={loss.item():.4f} ok={ok}", flush=True)
dist.destroy_process_group()
