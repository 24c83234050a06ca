"""Networks only training needs (torch): the regression discriminator of ATVG-net and
MouthNet as a torch module. Inference runs the numpy MouthNet
(``talkface.motion.mouthnet``) and never imports these."""
