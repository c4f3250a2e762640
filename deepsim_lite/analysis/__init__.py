"""Layer 3, analysis: metrics (LPIPS, SIFID, PSNR, SSIM), patch nearest neighbours (App. G), the patch
baseline, the video benchmark (Sec. 4.2), held-out sets, failure modes (App. C) and sweeps on Ray.
Imports only the method, the primitives and the plumbing below it.
"""
