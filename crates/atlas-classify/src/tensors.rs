//! Reading and writing `f32` tensors in the safetensors format.
//!
//! Writing streams the tensors through [`atlas_artifact::write_atomic_with`] in small blocks instead of
//! building the whole file in memory (a 300k-feature model has 200 MB of weights).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use atlas_artifact::IoContext;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use crate::error::ClassifyError;

/// A named `f32` tensor to write.
pub struct TensorRef<'a> {
    /// Tensor name inside the file.
    pub name: &'a str,
    /// Shape (row-major).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: &'a [f32],
}

/// Writes `tensors` to `path` atomically as a safetensors file.
pub fn write_f32(path: &Path, tensors: &[TensorRef<'_>]) -> Result<(), ClassifyError> {
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0;
    for t in tensors {
        let n: usize = t.shape.iter().product();
        if n != t.data.len() {
            return Err(ClassifyError::InvalidData(format!(
                "tensor {} has {} values for shape {:?}",
                t.name,
                t.data.len(),
                t.shape
            )));
        }
        let bytes = n * 4;
        infos.push((
            t.name.to_string(),
            TensorInfo { dtype: Dtype::F32, shape: t.shape.clone(), data_offsets: (offset, offset + bytes) },
        ));
        offset += bytes;
    }
    let format_err = |message: String| ClassifyError::Format { path: path.to_path_buf(), message };
    let metadata = Metadata::new(None, infos).map_err(|e| format_err(format!("safetensors header: {e}")))?;
    let mut header =
        serde_json::to_vec(&metadata).map_err(|e| format_err(format!("safetensors header: {e}")))?;
    // The format wants the data to start 8-byte aligned; the header is padded with spaces.
    header.resize(header.len().next_multiple_of(8), b' ');
    atlas_artifact::write_atomic_with(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut block = Vec::with_capacity(64 * 1024);
        for t in tensors {
            for chunk in t.data.chunks(16 * 1024) {
                block.clear();
                block.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
                w.write_all(&block)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// A tensor read back: shape and row-major values.
pub type Tensor = (Vec<usize>, Vec<f32>);

/// Reads every tensor of a safetensors file; each must be `f32`. Returns name → tensor.
pub fn read_f32(path: &Path) -> Result<HashMap<String, Tensor>, ClassifyError> {
    let bytes = std::fs::read(path).io_context("read", path)?;
    let format_err = |message: String| ClassifyError::Format { path: path.to_path_buf(), message };
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| format_err(format!("not a valid safetensors file: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(format_err(format!("tensor {name} is {:?}, expected F32", view.dtype())));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name.to_string(), (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// The tensors of a model's weights file, taken out one by one with the shape the model expects.
pub struct TensorFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl TensorFile {
    /// Reads every tensor of the safetensors file `path` (see [`read_f32`]).
    pub fn read(path: &Path) -> Result<Self, ClassifyError> {
        Ok(TensorFile { path: path.to_path_buf(), tensors: read_f32(path)? })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the values of tensor `name`, which must have `shape`; the error names the file, the tensor
    /// and both shapes.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ClassifyError> {
        match self.tensors.remove(name) {
            Some((s, v)) if s == shape => Ok(v),
            Some((s, _)) => Err(ClassifyError::format(
                &self.path,
                format!("tensor {name} has shape {s:?}, expected {shape:?}"),
            )),
            None => Err(ClassifyError::format(&self.path, format!("no tensor named {name}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_interop_with_the_reference_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let w: Vec<f32> = (0..6).map(|v| v as f32 * 0.5).collect();
        let b = [1.0f32, -2.0];
        write_f32(
            &path,
            &[
                TensorRef { name: "weight", shape: vec![3, 2], data: &w },
                TensorRef { name: "bias", shape: vec![2], data: &b },
            ],
        )
        .unwrap();
        let back = read_f32(&path).unwrap();
        assert_eq!(back["weight"], (vec![3, 2], w.clone()));
        assert_eq!(back["bias"], (vec![2], b.to_vec()));
        // The file is what the safetensors crate itself would read.
        let raw = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&raw).unwrap();
        assert_eq!(st.tensor("weight").unwrap().shape(), [3, 2]);
        // A shape that does not match the data is refused before anything is written.
        let bad = write_f32(&dir.path().join("bad"), &[TensorRef { name: "x", shape: vec![4], data: &b }]);
        assert!(bad.is_err() && !dir.path().join("bad").exists());
        // Tensors are taken with the shape the model expects.
        let mut file = TensorFile::read(&path).unwrap();
        let err = file.take("weight", &[2, 3]).unwrap_err().to_string();
        assert!(err.contains("t.safetensors") && err.contains("[3, 2]") && err.contains("[2, 3]"), "{err}");
        assert_eq!(file.take("bias", &[2]).unwrap(), b.to_vec());
        let err = file.take("bias", &[2]).unwrap_err().to_string();
        assert!(err.contains("no tensor named bias"), "{err}");
        // A truncated file is refused.
        std::fs::write(&path, &raw[..raw.len() - 3]).unwrap();
        assert!(matches!(read_f32(&path), Err(ClassifyError::Format { .. })));
    }
}
