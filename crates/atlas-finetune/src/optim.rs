//! AdamW whose state can be saved and restored, and gradient clipping by global norm.
//!
//! `candle_nn::AdamW` keeps its moments private, so a checkpoint could not hold them and a resumed run would
//! restart the moments at zero: not the run it continues. This is the same algorithm (decoupled weight decay,
//! bias-corrected moments; PyTorch's `torch.optim.AdamW` defaults) with its state exposed as named tensors.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use crate::FinetuneError;

/// AdamW over named variables.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken (the bias correction's t).
    t: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl std::fmt::Debug for AdamW {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdamW").field("vars", &self.vars.len()).field("t", &self.t).finish_non_exhaustive()
    }
}

impl AdamW {
    /// AdamW over `vars` (β 0.9 / 0.999, ε 1e-8) with `weight_decay`, moments at zero.
    pub fn new(vars: Vec<(String, Var)>, weight_decay: f64) -> Result<Self, FinetuneError> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        let m = vars.iter().map(|(_, v)| zeros(v)).collect::<Result<Vec<_>, _>>();
        let m = m.map_err(FinetuneError::candle("AdamW moments"))?;
        let v = m.clone();
        Ok(Self { vars, m, v, t: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay })
    }

    /// The variables, in the order [`AdamW::step`] takes their gradients.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One update with `grads[i]` the gradient of `vars()[i]` and learning rate `lr`.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<(), FinetuneError> {
        if grads.len() != self.vars.len() {
            return Err(FinetuneError::Invalid(format!(
                "{} gradients for {} variables",
                grads.len(),
                self.vars.len()
            )));
        }
        self.t += 1;
        let t = self.t as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let (eps, decay) = (self.eps, 1.0 - lr * self.weight_decay);
        let update =
            |var: &Var, g: &Tensor, m: &Tensor, v: &Tensor| -> candle_core::Result<(Tensor, Tensor)> {
                let m = ((m * b1)? + (g * (1.0 - b1))?)?;
                let v = ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let step = ((&m / c1)? / ((&v / c2)?.sqrt()? + eps)?)?;
                var.set(&((var.as_tensor() * decay)? - (step * lr)?)?)?;
                Ok((m, v))
            };
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let (m, v) = update(var, &grads[i], &self.m[i], &self.v[i])
                .map_err(FinetuneError::candle("AdamW step"))?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Weights and moments as named tensors (`w.<name>`, `m.<name>`, `v.<name>`), for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, var)) in self.vars.iter().enumerate() {
            out.insert(format!("w.{name}"), var.as_tensor().clone());
            out.insert(format!("m.{name}"), self.m[i].clone());
            out.insert(format!("v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores what [`AdamW::state`] saved after `t` steps.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, t: u64) -> Result<(), FinetuneError> {
        let get = |key: String| {
            state.get(&key).ok_or_else(|| FinetuneError::Invalid(format!("the checkpoint lacks {key}")))
        };
        for (i, (name, var)) in self.vars.iter().enumerate() {
            var.set(get(format!("w.{name}"))?).map_err(FinetuneError::candle("restoring a weight"))?;
            self.m[i] = get(format!("m.{name}"))?.clone();
            self.v[i] = get(format!("v.{name}"))?.clone();
        }
        self.t = t;
        Ok(())
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm` (as `torch.nn.utils.clip_grad_norm_`);
/// returns the norm before clipping. `max_norm <= 0` only measures.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64, FinetuneError> {
    let sq = |g: &Tensor| g.sqr()?.sum_all()?.to_scalar::<f32>();
    let mut total = 0.0f64;
    for g in grads.iter() {
        total += f64::from(sq(g).map_err(FinetuneError::candle("measuring gradients"))?);
    }
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let k = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = (&*g * k).map_err(FinetuneError::candle("clipping gradients"))?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn adamw_matches_the_textbook_update_and_restores_exactly() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], 0.1).unwrap();
        let g = Tensor::new(&[0.5f32, -1.0], &dev).unwrap();
        opt.step(std::slice::from_ref(&g), 0.01).unwrap();
        // t = 1: m̂ = g, v̂ = g², update = g / (|g| + ε) = sign(g); w ← w (1 − lr·wd) − lr · sign(g).
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        let want = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) + 0.01];
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // A second optimizer restored from the first's state takes the identical next step.
        let state = opt.state();
        let w2 = Var::from_tensor(&Tensor::zeros(2, DType::F32, &dev).unwrap()).unwrap();
        let mut opt2 = AdamW::new(vec![("w".into(), w2.clone())], 0.1).unwrap();
        opt2.restore(&state, opt.steps()).unwrap();
        opt.step(std::slice::from_ref(&g), 0.01).unwrap();
        opt2.step(std::slice::from_ref(&g), 0.01).unwrap();
        assert_eq!(w.as_tensor().to_vec1::<f32>().unwrap(), w2.as_tensor().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let dev = Device::Cpu;
        let mut g = vec![Tensor::new(&[3.0f32], &dev).unwrap(), Tensor::new(&[4.0f32], &dev).unwrap()];
        let norm = clip_grad_norm(&mut g, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-9);
        let a = g[0].to_vec1::<f32>().unwrap()[0];
        let b = g[1].to_vec1::<f32>().unwrap()[0];
        assert!(((a * a + b * b).sqrt() - 1.0).abs() < 1e-5);
        let mut small = vec![Tensor::new(&[0.3f32], &dev).unwrap()];
        clip_grad_norm(&mut small, 1.0).unwrap();
        assert_eq!(small[0].to_vec1::<f32>().unwrap(), vec![0.3]);
    }
}
